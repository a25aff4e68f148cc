//! The properties the checker checks, as predicates on states.

use stateright::Property;

use crate::config::PropertyKind;
use crate::model::LeaseModel;
use crate::state::{State, flag};

/// The ghost flags `property` reads.
pub(crate) fn tracked_flags(property: PropertyKind) -> u8 {
    match property {
        PropertyKind::MutualExclusion => 0,
        PropertyKind::TokensIncrease => flag::TOKEN_NOT_INCREASED,
        PropertyKind::WritesInTokenOrder => flag::WRITE_OUT_OF_ORDER,
        PropertyKind::Granted => flag::GRANTED,
        PropertyKind::GrantedAfterExpiry => flag::GRANTED_AFTER_EXPIRY,
        PropertyKind::GrantedAfterRelease => flag::GRANTED_AFTER_RELEASE,
        PropertyKind::WritesFromTwoTokens => flag::TWO_WRITERS,
        PropertyKind::LostReplyRecovered => flag::REPLAYED,
        PropertyKind::Renewed => flag::RENEWED,
        // Read from the holders themselves, not from ghost flags.
        PropertyKind::ActsOnlyWhileValid | PropertyKind::AnsweredRenewalsKeepLease => 0,
    }
}

impl LeaseModel {
    fn any_flag(&self, state: &State, bit: u8) -> bool {
        state.resources[..usize::from(self.config().resources)]
            .iter()
            .any(|r| r.ghost.flags & bit != 0)
    }

    /// Per resource, at most one client believes it holds a lease valid at the clock.
    #[must_use]
    pub fn mutual_exclusion(&self, state: &State) -> bool {
        let clients = &state.clients[..usize::from(self.config().clients)];
        (0..self.config().resources).all(|resource| {
            clients
                .iter()
                .filter(|c| c.holds_valid(resource, state.clock))
                .count()
                <= 1
        })
    }

    pub(crate) fn property(&self, kind: PropertyKind) -> Property<Self> {
        let name = kind.name();
        match kind {
            PropertyKind::MutualExclusion => Property::always(name, LeaseModel::mutual_exclusion),
            PropertyKind::TokensIncrease => {
                Property::always(name, |m, s| !m.any_flag(s, flag::TOKEN_NOT_INCREASED))
            }
            PropertyKind::WritesInTokenOrder => {
                Property::always(name, |m, s| !m.any_flag(s, flag::WRITE_OUT_OF_ORDER))
            }
            PropertyKind::Granted => Property::sometimes(name, |m, s| m.any_flag(s, flag::GRANTED)),
            PropertyKind::GrantedAfterExpiry => {
                Property::sometimes(name, |m, s| m.any_flag(s, flag::GRANTED_AFTER_EXPIRY))
            }
            PropertyKind::GrantedAfterRelease => {
                Property::sometimes(name, |m, s| m.any_flag(s, flag::GRANTED_AFTER_RELEASE))
            }
            PropertyKind::WritesFromTwoTokens => {
                Property::sometimes(name, |m, s| m.any_flag(s, flag::TWO_WRITERS))
            }
            PropertyKind::LostReplyRecovered => {
                Property::sometimes(name, |m, s| m.any_flag(s, flag::REPLAYED))
            }
            PropertyKind::ActsOnlyWhileValid
            | PropertyKind::AnsweredRenewalsKeepLease
            | PropertyKind::Renewed => unreachable!(
                "holder properties apply only to holder protocols, which LeaseModel::new refuses"
            ),
        }
    }
}
