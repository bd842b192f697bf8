//! The demo's boat with instruments: a GPS fed from a recorded track (the Shenjiamen log of
//! the integration tests, sent as NMEA over UDP), a chart plotter feed and a Signal K server.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The recorded track: a boat leaving Shenjiamen (GN and BD talkers, a fix a second).
const TRACK: &str = include_str!("../../../tests/vectors/shenjiamen.nmea");

/// The config sections of the demo's boat: GPS over UDP on `gps_port`, plotter and Signal K
/// on ports the system picks (the daemon prints them).
pub(crate) fn sections(ip: &str, gps_port: u16) -> String {
    format!(
        "\n[gps]\nsource = \"nmea_udp\"\naddress = \"{ip}:{gps_port}\"\nnav_status = \"fishing\"\n\
         \n[plotter]\nenabled = true\nlisten = \"{ip}:0\"\nrefresh_s = 5\n\
         \n[signalk]\nenabled = true\nlisten = \"{ip}:0\"\n"
    )
}

/// Plays the track to `ip:port` (a sentence every 50 ms, looping) until dropped.
#[derive(Debug)]
pub(crate) struct Feeder(Arc<AtomicBool>);

impl Drop for Feeder {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Starts playing the track.
pub(crate) fn feed(ip: &str, port: u16) -> std::io::Result<Feeder> {
    let sock = UdpSocket::bind((ip, 0))?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = stop.clone();
    let to = (ip.to_owned(), port);
    std::thread::spawn(move || {
        let lines: Vec<&str> = TRACK.lines().filter(|l| l.starts_with('$')).collect();
        while !done.load(Ordering::SeqCst) {
            for l in &lines {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                let _ = sock.send_to(format!("{l}\r\n").as_bytes(), (to.0.as_str(), to.1));
                // The pace of a GPS (a few sentences a second), not a wait for an event.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    Ok(Feeder(stop))
}
