//! Counterexamples of the holder model as readable interleavings. Holder clocks are shown in
//! ticks (a step is a quarter tick), so that they compare with the store's at a glance.

use leasehold_core::{KeeperAction, LocalInstant, RenewReply};

use super::action::{Fate, HolderAction};
use super::state::{HolderState, Pending, steps};
use crate::config::SUB_TICKS;
use crate::state::RowStatus;
use crate::trace::{Step, client_name};

/// A holder instant, in ticks: `4.5`.
fn ticks(instant: LocalInstant) -> String {
    let steps = steps(instant);
    let whole = steps / u64::from(SUB_TICKS);
    match steps % u64::from(SUB_TICKS) {
        0 => whole.to_string(),
        part => {
            let fraction = part * 100 / u64::from(SUB_TICKS);
            format!("{whole}.{}", format!("{fraction:02}").trim_end_matches('0'))
        }
    }
}

/// Renders `path` (each state with the action taken from it; the last has none).
pub(crate) fn render(path: &[(HolderState, Option<HolderAction>)]) -> Vec<Step> {
    path.windows(2)
        .enumerate()
        .filter_map(|(i, pair)| {
            let (before, action) = (&pair[0].0, pair[0].1?);
            let after = &pair[1].0;
            Some(Step {
                index: i + 1,
                actor: action
                    .client()
                    .map_or_else(|| "clock".to_owned(), client_name),
                action: describe(before, action, after),
                clock: after.clock,
                store: store_line(after),
                raw: action.to_string(),
            })
        })
        .collect()
}

/// The store's row after a step, and what each holder's keeper says of its lease.
fn store_line(state: &HolderState) -> String {
    let row = state.resource.row;
    let owner = client_name(row.owner);
    let mut line = match row.status {
        RowStatus::Vacant => "lock: free".to_owned(),
        RowStatus::Active if row.is_valid_at(state.clock) => {
            format!("lock: {owner} #{} until {}", row.token, row.expires_at)
        }
        RowStatus::Active => format!("lock: {owner} #{} expired at {}", row.token, row.expires_at),
        _ => format!("lock: {owner} #{} ended", row.token),
    };
    for i in 0..state.holders_in_use {
        let holder = state.holder(i);
        if let Some((token, keeper)) = holder.lease {
            let view = if holder.acts() {
                format!("valid until {}", ticks(keeper.deadline()))
            } else {
                "lost".to_owned()
            };
            line.push_str(&format!("; {} holds #{token}: {view}", client_name(i)));
        }
    }
    line
}

/// What `action` did between `before` and `after`, in words.
fn describe(before: &HolderState, action: HolderAction, after: &HolderState) -> String {
    match action {
        HolderAction::Tick { .. } => {
            let clocks: Vec<String> = (0..after.holders_in_use)
                .filter(|&i| after.holder(i).clock_runs())
                .map(|i| {
                    let advance = after.holder(i).clock - before.holder(i).clock;
                    let rate = match advance.cmp(&SUB_TICKS) {
                        core::cmp::Ordering::Less => " (slow)",
                        core::cmp::Ordering::Equal => "",
                        core::cmp::Ordering::Greater => " (fast)",
                    };
                    format!(
                        "{}'s clock {}{rate}",
                        client_name(i),
                        ticks(after.holder(i).now())
                    )
                })
                .collect();
            if clocks.is_empty() {
                "tick".to_owned()
            } else {
                format!("tick; {}", clocks.join(", "))
            }
        }
        HolderAction::Acquire { client } => {
            let holder = after.holder(client);
            let result = match holder.pending {
                Some(Pending::Acquire {
                    granted: Some(token),
                    ..
                }) => format!("store grants #{token}"),
                _ => "store says busy".to_owned(),
            };
            format!("send acquire at {} → {result}", ticks(holder.now()))
        }
        HolderAction::Renew { client, fate } => {
            let holder = before.holder(client);
            let sent = format!("send renewal at {}", ticks(holder.now()));
            let result = match fate {
                Fate::Dropped => "lost before the store".to_owned(),
                Fate::ReplyLost => "store renews, reply lost".to_owned(),
                Fate::Answered => match after.holder(client).pending {
                    Some(Pending::Renew {
                        reply: RenewReply::Renewed,
                        ..
                    }) => format!("store renews until {}", after.resource.row.expires_at),
                    _ => "store refuses".to_owned(),
                },
            };
            format!("{sent} → {result}")
        }
        HolderAction::Reply { client } => reply_text(before, after, client),
        HolderAction::GiveUp { .. } => "keeper says lost: forgets the lease".to_owned(),
    }
}

fn reply_text(before: &HolderState, after: &HolderState, client: u8) -> String {
    let holder = after.holder(client);
    let arrival = format!("reply arrives at {}", ticks(holder.now()));
    let verdict = match holder.lease {
        Some((_, keeper)) => {
            let mut polled = keeper;
            match polled.poll(holder.now()) {
                KeeperAction::Lost(reason) => format!("keeper: lost ({reason})"),
                _ => format!("keeper: valid until {}", ticks(keeper.deadline())),
            }
        }
        None => "busy".to_owned(),
    };
    let what = match before.holder(client).pending {
        Some(Pending::Acquire {
            granted: Some(t), ..
        }) => format!("granted #{t}"),
        Some(Pending::Acquire { .. }) | None => "busy".to_owned(),
        Some(Pending::Renew { reply, .. }) => match reply {
            RenewReply::Renewed => "renewed".to_owned(),
            RenewReply::Refused(reason) => format!("refused ({reason:?})"),
            RenewReply::Failed => "failed".to_owned(),
        },
    };
    format!("{arrival}: {what} → {verdict}")
}
