//! Collects semantic problems (those serde cannot see) while validating, so
//! every problem of a config is reported at once.

use crate::Duration;

#[derive(Debug, Default)]
pub(crate) struct Check {
    pub problems: Vec<(String, String)>,
}

impl Check {
    pub fn fail(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push((key.into(), message.into()));
    }

    pub fn positive(&mut self, key: &str, value: u64) {
        if value == 0 {
            self.fail(key, "must be greater than 0");
        }
    }

    pub fn non_zero(&mut self, key: &str, value: Duration) {
        if value.is_zero() {
            self.fail(key, "must be longer than 0s");
        }
    }

    pub fn not_blank(&mut self, key: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(key, "must not be empty");
        }
    }
}
