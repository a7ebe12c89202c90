//! The layers of the start chain and the set of those that are up on a node.

use super::Step;
use serde::{Deserialize, Serialize};

/// The layers of the start chain, bottom up. Stop goes top down.
///
/// The VIP comes before mysqld: while the server runs its crash recovery, clients that
/// connect get a refusal at once (and retry) instead of waiting out a connect timeout for an
/// address nobody answers, and a restart of mysqld in place keeps the address. Gratuitous
/// ARPs go out when the VIP is added and again once mysqld is ready (see daemon/effects.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    Primary,
    Mount,
    Vip,
    Mysqld,
}

pub const LAYERS: [Layer; 4] = [Layer::Primary, Layer::Mount, Layer::Vip, Layer::Mysqld];

impl Layer {
    pub fn start(self) -> Step {
        match self {
            Layer::Primary => Step::Promote { force: false },
            Layer::Mount => Step::Mount,
            Layer::Mysqld => Step::StartMysqld,
            Layer::Vip => Step::AddVip,
        }
    }

    pub fn stop(self) -> Step {
        match self {
            Layer::Primary => Step::Demote,
            Layer::Mount => Step::Umount,
            Layer::Mysqld => Step::StopMysqld,
            Layer::Vip => Step::RemoveVip,
        }
    }
}

/// Which layers are up: a set, not four booleans indexed by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerSet(u8);

impl LayerSet {
    fn bit(layer: Layer) -> u8 {
        1 << (layer as u8)
    }

    pub fn contains(self, layer: Layer) -> bool {
        self.0 & Self::bit(layer) != 0
    }

    pub fn set(&mut self, layer: Layer, up: bool) {
        if up {
            self.0 |= Self::bit(layer);
        } else {
            self.0 &= !Self::bit(layer);
        }
    }

    /// Every layer, the DRBD role included, is up.
    pub fn all(self) -> bool {
        LAYERS.iter().all(|layer| self.contains(*layer))
    }

    pub fn any(self) -> bool {
        self.0 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_of_layers() {
        let mut up = LayerSet::default();
        assert!(!up.any() && !up.all());
        for layer in LAYERS {
            up.set(layer, true);
            assert!(up.contains(layer));
        }
        assert!(up.all());
        up.set(Layer::Mysqld, false);
        assert!(!up.contains(Layer::Mysqld) && up.contains(Layer::Vip) && !up.all());
    }

    #[test]
    fn the_vip_comes_up_before_mysqld_and_goes_after_it() {
        let order = |layer| LAYERS.iter().position(|l| *l == layer);
        assert!(order(Layer::Mount) < order(Layer::Vip));
        assert!(order(Layer::Vip) < order(Layer::Mysqld));
    }
}
