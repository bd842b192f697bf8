//! The `[gps]`, `[plotter]` and `[signalk]` sections of the node's config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use haiqiao_marine::ReportConfig;
use serde::{Deserialize, Serialize};

/// Where the boat's own fix comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GpsSource {
    /// No GPS: positions only when someone sends one (status says there is no fix).
    #[default]
    None,
    /// NMEA 0183 from a TCP server (a multiplexer, a WiFi gateway, OpenCPN): we connect.
    NmeaTcp,
    /// NMEA 0183 datagrams sent to us: we listen.
    NmeaUdp,
    /// NMEA 0183 on a serial port.
    Serial,
    /// gpsd's JSON (`?WATCH`), TCP 2947.
    Gpsd,
    /// A Signal K server's WebSocket stream (`/signalk/v1/stream?subscribe=self`).
    Signalk,
}

/// `[gps]`: the boat's own position in, and the automatic reports made from it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct GpsSection {
    /// none, nmea_tcp, nmea_udp, serial, gpsd or signalk. Default none.
    pub(crate) source: GpsSource,
    /// nmea_tcp, gpsd, signalk: the server to connect to (gpsd default 127.0.0.1:2947);
    /// nmea_udp: the address to listen on (e.g. 0.0.0.0:10110).
    pub(crate) address: Option<String>,
    /// serial: the device (e.g. /dev/ttyUSB0).
    pub(crate) device: Option<PathBuf>,
    /// serial: the speed, 4800 (NMEA 0183 standard), 9600 or 38400 (AIS units). Default 4800.
    pub(crate) baud: u32,
    /// Seconds a fix counts for after it arrived; after that, status says "no fix" and no
    /// report is sent. Default 10.
    pub(crate) stale_s: u32,
    /// The navigational status reported with each position (fishing, under_way, at_anchor,
    /// moored, ...). Default: none (undefined).
    pub(crate) nav_status: Option<String>,
    /// Send automatic position reports into the mesh. Default true (with a source).
    pub(crate) report: bool,
    /// When to report (`[gps.policy]`): haiqiao-marine's `ReportConfig`, unchanged.
    pub(crate) policy: ReportConfig,
}

impl Default for GpsSection {
    fn default() -> Self {
        GpsSection {
            source: GpsSource::None,
            address: None,
            device: None,
            baud: 4800,
            stale_s: 10,
            nav_status: None,
            report: true,
            policy: ReportConfig::default(),
        }
    }
}

/// Which AIS messages represent mesh vessels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AisClass {
    /// Types 1 and 5 (OpenCPN shows class B targets with an unusual MMSI as net buoys).
    #[default]
    A,
    /// Types 18 and 24.
    B,
}

/// `[plotter]`: the chart plotter feed (NMEA 0183 over TCP, OpenCPN's "Network, TCP").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PlotterSection {
    /// Serve the feed. Default false.
    pub(crate) enabled: bool,
    /// Where to listen. Default 127.0.0.1:10110 (the registered NMEA-over-IP port); use
    /// 0.0.0.0:10110 for a plotter on the boat's network.
    pub(crate) listen: SocketAddr,
    /// Also send every line as a UDP datagram to this address (e.g. 192.168.1.255:10110).
    pub(crate) udp_to: Option<SocketAddr>,
    /// Vessels whose newest fix is older than this (minutes) are left out. Default 30.
    pub(crate) max_age_min: u32,
    /// a (types 1 and 5) or b (18 and 24). Default a.
    pub(crate) ais_class: AisClass,
    /// Seconds between full refreshes (every target, static data, alarms). Default 30.
    pub(crate) refresh_s: u32,
    /// Plotters connected at once. Default 8.
    pub(crate) max_clients: usize,
}

impl Default for PlotterSection {
    fn default() -> Self {
        PlotterSection {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 10110)),
            udp_to: None,
            max_age_min: 30,
            ais_class: AisClass::A,
            refresh_s: 30,
            max_clients: 8,
        }
    }
}

/// `[signalk]`: a Signal K server (discovery, REST, WebSocket stream) of the mesh's vessels.
/// It listens on its own address, apart from the control API, so that instruments on the
/// boat's network can read it without reaching the API that writes records.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SignalkSection {
    /// Serve Signal K. Default false.
    pub(crate) enabled: bool,
    /// Where to listen. Default 127.0.0.1:3000 (signalk-server's port).
    pub(crate) listen: SocketAddr,
    /// Stream clients at once. Default 16.
    pub(crate) max_clients: usize,
    /// This vessel's MMSI, for its `self` context (default: a UUID from the node's key).
    pub(crate) mmsi: Option<u32>,
}

impl Default for SignalkSection {
    fn default() -> Self {
        SignalkSection {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            max_clients: 16,
            mmsi: None,
        }
    }
}

/// Checks the three sections.
pub(crate) fn validate(
    gps: &GpsSection,
    plotter: &PlotterSection,
    signalk: &SignalkSection,
) -> anyhow::Result<()> {
    match gps.source {
        GpsSource::None => {}
        GpsSource::NmeaTcp | GpsSource::NmeaUdp | GpsSource::Signalk => {
            let Some(a) = &gps.address else {
                bail!("[gps] source {:?} needs an address (host:port)", gps.source);
            };
            if !a.contains(':') {
                bail!("[gps] address {a:?} must be host:port");
            }
        }
        GpsSource::Gpsd => {}
        GpsSource::Serial => {
            if gps.device.is_none() {
                bail!("[gps] source serial needs a device (e.g. /dev/ttyUSB0)");
            }
            if !matches!(gps.baud, 4800 | 9600 | 19200 | 38400 | 57600 | 115200) {
                bail!(
                    "[gps] baud {} is not an NMEA speed (4800, 9600, 38400, ...)",
                    gps.baud
                );
            }
        }
    }
    if gps.stale_s == 0 {
        bail!("[gps] stale_s must be at least 1");
    }
    if let Some(n) = &gps.nav_status {
        crate::json::parse_nav_status(n).context("[gps] nav_status")?;
    }
    gps.policy.validate().context("[gps.policy]")?;
    if plotter.max_age_min == 0 || plotter.refresh_s == 0 || plotter.max_clients == 0 {
        bail!("[plotter] max_age_min, refresh_s and max_clients must be at least 1");
    }
    if signalk.max_clients == 0 {
        bail!("[signalk] max_clients must be at least 1");
    }
    if let Some(m) = signalk.mmsi
        && !haiqiao_marine::ident::is_ship_mmsi(m)
    {
        bail!("[signalk] mmsi {m} is not a ship station's MMSI (9 digits, 2xx to 7xx)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<crate::config::NodeConfig> {
        crate::config::NodeConfig::parse(&format!(
            "[node]\nrole = \"vessel\"\nname = \"x\"\nkey_file = \"k\"\ndata_dir = \"d\"\n{text}"
        ))
    }

    #[test]
    fn sections_default_to_off_and_parse_when_given() {
        let c = parse("").unwrap();
        assert_eq!(c.gps.source, GpsSource::None);
        assert!(!c.plotter.enabled && !c.signalk.enabled);
        let c = parse(
            "[gps]\nsource = \"serial\"\ndevice = \"/dev/ttyUSB0\"\nbaud = 38400\n\
             [gps.policy]\nslow_interval_s = 300\n[plotter]\nenabled = true\nais_class = \"b\"\n",
        )
        .unwrap();
        assert_eq!(c.gps.baud, 38400);
        assert_eq!(c.gps.policy.slow_interval_s, 300);
        assert_eq!(c.plotter.ais_class, AisClass::B);
    }

    #[test]
    fn bad_settings_say_what_to_change() {
        for (text, says) in [
            ("[gps]\nsource = \"serial\"\n", "needs a device"),
            ("[gps]\nsource = \"nmea_tcp\"\n", "needs an address"),
            (
                "[gps]\nsource = \"serial\"\ndevice = \"/dev/x\"\nbaud = 1234\n",
                "not an NMEA speed",
            ),
            ("[gps]\nnav_status = \"flying\"\n", "nav_status"),
            ("[gps.policy]\nfast_interval_s = 1000\n", "[gps.policy]"),
            ("[plotter]\nrefresh_s = 0\n", "[plotter]"),
            ("[signalk]\nmmsi = 974123456\n", "not a ship station"),
            ("[gps]\nsource = \"radio\"\n", "unknown variant"),
        ] {
            let e = format!("{:#}", parse(text).unwrap_err());
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
