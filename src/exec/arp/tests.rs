use super::*;

const OWN: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const OTHER: MacAddr = MacAddr([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

#[rustfmt::skip]
const PROBE: [u8; FRAME_LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Ethernet destination: broadcast
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // Ethernet source
    0x08, 0x06,                         // EtherType ARP
    0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet, IPv4, lengths
    0x00, 0x01,                         // request
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sender MAC
    0, 0, 0, 0,                         // sender IP 0.0.0.0
    0, 0, 0, 0, 0, 0,                   // target MAC ignored
    10, 99, 0, 100,                     // target IP: the VIP
];

#[test]
fn probe_layout_follows_rfc_5227() {
    assert_eq!(probe_frame(OWN, VIP), PROBE);
}

#[test]
fn gratuitous_arp_names_the_vip_as_sender_and_target() {
    let frame = gratuitous_frame(OWN, VIP);
    assert_eq!(frame[..28], PROBE[..28]);
    assert_eq!(frame[28..32], [10, 99, 0, 100]);
    assert_eq!(frame[32..], PROBE[32..]);
}

#[test]
fn parse_reads_a_padded_reply() {
    let reply = ArpPacket {
        operation: ArpOperation::Reply,
        sender_mac: OTHER,
        sender_ip: VIP,
        target_mac: OWN,
        target_ip: Ipv4Addr::UNSPECIFIED,
    };
    let mut padded = encode(OWN, &reply).to_vec();
    padded.resize(60, 0);
    assert_eq!(parse_frame(&padded), Ok(reply));
    assert_eq!(padded[20..22], [0, 2]);
}

#[test]
fn parse_refuses_what_is_not_ipv4_arp() {
    assert_eq!(
        parse_frame(&PROBE[..41]),
        Err(ArpParseError::TooShort { len: 41 })
    );
    let mut ipv4 = PROBE;
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(
        parse_frame(&ipv4),
        Err(ArpParseError::NotArp { ethertype: 0x0800 })
    );
    let mut ipv6 = PROBE;
    ipv6[16..18].copy_from_slice(&[0x86, 0xdd]);
    assert!(matches!(
        parse_frame(&ipv6),
        Err(ArpParseError::NotIpv4OverEthernet { .. })
    ));
    let mut rarp = PROBE;
    rarp[21] = 3;
    assert_eq!(
        parse_frame(&rarp),
        Err(ArpParseError::UnknownOperation { operation: 3 })
    );
}

#[test]
fn conflicts_are_other_hosts_claiming_or_probing_the_vip() {
    let mut packet = parse_frame(&gratuitous_frame(OTHER, VIP)).expect("valid frame");
    assert_eq!(conflicting_claim(&packet, VIP, OWN), Some(OTHER));
    let other_probe = parse_frame(&probe_frame(OTHER, VIP)).expect("valid frame");
    assert_eq!(conflicting_claim(&other_probe, VIP, OWN), Some(OTHER));
    let own_probe = parse_frame(&probe_frame(OWN, VIP)).expect("valid frame");
    assert_eq!(conflicting_claim(&own_probe, VIP, OWN), None);
    packet.sender_ip = Ipv4Addr::new(10, 99, 0, 2);
    assert_eq!(conflicting_claim(&packet, VIP, OWN), None);
}

#[test]
fn mac_round_trips_through_text() {
    assert_eq!(OTHER.to_string(), "52:54:00:ab:cd:ef");
    assert_eq!("52:54:00:ab:cd:ef".parse(), Ok(OTHER));
    for bad in [
        "52:54:00:ab:cd",
        "52:54:00:ab:cd:ef:01",
        "52:54:00:ab:cd:eg",
        "5:54:00:ab:cd:ef0",
    ] {
        assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
    }
}
