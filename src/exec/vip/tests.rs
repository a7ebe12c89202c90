use super::*;

#[test]
fn labels_begin_with_the_interface_and_fit_the_kernel_field() {
    assert_eq!(address_label("lan0"), "lan0:tandem");
    assert_eq!(address_label("enp0s31f6"), "enp0s31f6:t");
    assert_eq!(address_label("enx0123456789a"), "enx0123456789a");
    for name in ["lan0", "enp0s31f6", "enx0123456789a", "abcdefghijklmno"] {
        let label = address_label(name);
        assert!(
            label.starts_with(name) && label.len() <= IFNAME_MAX_LEN,
            "{label}"
        );
    }
}
