"""Opens every valid vector of tests/vectors/sealed.json from docs/protocol.md section 13
alone, with Python's `cryptography` package (OpenSSL): a third implementation of the
opening steps. Run from the repository root: python3 tests/vectors/verify_sealed.py
(needs `pip install cryptography`; not run by CI, which checks the same in
crates/proto/tests/sealed.rs)."""
import json
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
import hashlib
d=json.load(open('tests/vectors/sealed.json'))
keys={k['name']:k for k in d['keys']}
def hkdf(ikm,salt,info,n): return HKDF(algorithm=hashes.SHA256(),length=n,salt=salt,info=info).derive(ikm)
def x_secret(seed):
    return hashlib.sha512(seed).digest()[:32]
for v in d['valid']:
    rec=bytes.fromhex(v['hex']); env=rec[:-64]
    ct=bytes.fromhex(v['ciphertext']); aad=env[:len(env)-len(ct)]
    E=bytes.fromhex(v['ephemeral_public'])
    # stanzas: locate by parsing: 5820 E 58/59 len stanzas
    i=env.index(b'\x58\x20'+E)+34
    if env[i]==0x58: n=env[i+1]; st=env[i+2:i+2+n]
    else: n=int.from_bytes(env[i+1:i+3],'big'); st=env[i+3:i+3+n]
    for name in v['readers']:
        k=keys[name]
        sk=X25519PrivateKey.from_private_bytes(x_secret(bytes.fromhex(k['seed'])))
        R=sk.public_key().public_bytes_raw()
        assert R.hex()==k['x25519_public'], name
        shared=sk.exchange(X25519PublicKey.from_public_bytes(E))
        okm=hkdf(shared,E+R,b'haiqiao/sealed/v1/stanza',36)
        for j in range(0,len(st),36):
            if st[j:j+4]==okm[32:]:
                ck=ChaCha20Poly1305(okm[:32]).decrypt(b'\0'*12, st[j+4:j+36], b'')
        p=hkdf(ck,E,b'haiqiao/sealed/v1/payload',32)
        pt=ChaCha20Poly1305(p).decrypt(b'\0'*12, ct, aad)
        assert pt.hex()==v['plaintext']
        if v['name']=='text_one_reader':
            print('shared',shared.hex()); print('stanza_key',okm[:32].hex(),'hint',okm[32:].hex()); print('content_key',ck.hex()); print('payload_key',p.hex())
    print('ok',v['name'])
