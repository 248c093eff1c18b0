//! Live refresh of quality data: the server pushes every inspected or scored cell;
//! a page counts the ones it cares about into a refresh signal that its resources
//! track, at most once per interval however fast cells arrive.

use std::time::Duration;

use leptos::prelude::*;

use crate::quality::CellSummary;

/// A counter that ticks after a pushed cell for which `matters` is true: at once for
/// the first, then at most once per `every` (cells arriving in between are folded
/// into one tick at the end of the interval). Put it in a resource's source to
/// refetch live. Cells pushed before the page opened are ignored; on the server it
/// never ticks.
pub fn use_cell_refresh(
    every: Duration,
    matters: impl Fn(&CellSummary) -> bool + Send + Sync + 'static,
) -> ReadSignal<u32> {
    let (tick, set_tick) = signal(0u32);
    #[cfg(feature = "hydrate")]
    {
        let live = crate::live::use_live();
        // (cooling down after a tick, a cell arrived while cooling)
        let state = StoredValue::new((false, false));
        fn cool(state: StoredValue<(bool, bool)>, set_tick: WriteSignal<u32>, every: Duration) {
            set_timeout(
                move || {
                    let dirty = state.try_get_value().is_some_and(|s| s.1);
                    if dirty {
                        state.try_set_value((true, false));
                        set_tick.try_update(|n| *n = n.wrapping_add(1));
                        cool(state, set_tick, every);
                    } else {
                        state.try_set_value((false, false));
                    }
                },
                every,
            );
        }
        Effect::new(move |seen: Option<()>| {
            let cell = live.last_cell.get();
            if seen.is_none() || !cell.as_ref().is_some_and(&matters) {
                return;
            }
            if state.get_value().0 {
                state.update_value(|s| s.1 = true);
            } else {
                // Leading edge: the first change shows at once.
                state.set_value((true, false));
                set_tick.update(|n| *n = n.wrapping_add(1));
                cool(state, set_tick, every);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (every, matters, set_tick);
    tick
}

/// Fetches `value` again with `fetch` whenever what `track` reads changes (not at
/// first: the island starts from what the server rendered). Answers can come back out
/// of order; only the newest request's answer is kept. Browser only.
#[cfg(feature = "hydrate")]
pub fn refetch_on<T, Fut>(
    value: RwSignal<T>,
    track: impl Fn() + 'static,
    fetch: impl Fn() -> Fut + 'static,
) where
    T: Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let latest = StoredValue::new(0u32);
    Effect::new(move |ran: Option<()>| {
        track();
        if ran.is_none() {
            return;
        }
        latest.update_value(|n| *n = n.wrapping_add(1));
        let mine = latest.get_value();
        let answer = fetch();
        leptos::task::spawn_local(async move {
            let v = answer.await;
            if latest.try_get_value() == Some(mine) {
                value.try_set(v);
            }
        });
    });
}
