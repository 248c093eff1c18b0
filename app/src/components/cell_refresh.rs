//! Live refresh of quality data: the server pushes every inspected or scored cell;
//! a page counts the ones it cares about into a refresh signal that its resources
//! track, at most once per interval however fast cells arrive.

use std::time::Duration;

use leptos::prelude::*;

use crate::quality::CellSummary;

/// A counter that ticks at most once per `every` after a pushed cell for which
/// `matters` is true. Put it in a resource's source to refetch live. Cells pushed
/// before the page opened are ignored; on the server it never ticks.
pub fn use_cell_refresh(
    every: Duration,
    matters: impl Fn(&CellSummary) -> bool + Send + Sync + 'static,
) -> ReadSignal<u32> {
    let (tick, set_tick) = signal(0u32);
    #[cfg(feature = "hydrate")]
    {
        let live = crate::live::use_live();
        let pending = StoredValue::new(false);
        Effect::new(move |seen: Option<()>| {
            let cell = live.last_cell.get();
            if seen.is_none() || pending.get_value() {
                return;
            }
            if cell.as_ref().is_some_and(&matters) {
                pending.set_value(true);
                // Trailing: changes during the interval are folded into one refetch.
                set_timeout(
                    move || {
                        pending.try_set_value(false);
                        set_tick.try_update(|n| *n = n.wrapping_add(1));
                    },
                    every,
                );
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (every, matters, set_tick);
    tick
}
