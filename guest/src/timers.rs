//! The expiry timer queue: at most one pending timer per environment, ordered by due time and
//! then by environment ID.

use alloc::collections::BTreeSet;
use alloc::string::String;

/// Pending expiry timers as `(due ms, env id)`.
#[derive(Debug, Default, Clone)]
pub struct Timers {
    queue: BTreeSet<(u64, String)>,
}

impl Timers {
    /// Schedules a timer for `env_id` at `due`.
    pub fn arm(&mut self, due: u64, env_id: &str) {
        self.queue.insert((due, String::from(env_id)));
    }

    /// Removes the timer for `env_id` at `due`, if it is pending.
    pub fn cancel(&mut self, due: u64, env_id: &str) {
        self.queue.remove(&(due, String::from(env_id)));
    }

    /// The earliest due time, if any timer is pending.
    pub fn next_deadline(&self) -> Option<u64> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(u64, String)> {
        if self.next_deadline()? <= now {
            self.queue.pop_first()
        } else {
            None
        }
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_due_order_then_env_order() {
        let mut t = Timers::default();
        t.arm(20, "b");
        t.arm(10, "z");
        t.arm(20, "a");
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_due(9), None);
        assert_eq!(t.pop_due(25), Some((10, "z".into())));
        assert_eq!(t.pop_due(25), Some((20, "a".into())));
        t.cancel(20, "b");
        assert_eq!(t.pop_due(25), None);
        assert!(t.is_empty());
    }
}
