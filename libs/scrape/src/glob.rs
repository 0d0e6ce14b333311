//! Glob patterns for repository and user lists: `*` matches any run of
//! characters, `?` one character; matching ignores ASCII case.

pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// True when `text` matches any of `patterns`.
pub fn any(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| matches(p, text))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", "anything"));
        assert!(matches("*[bot]", "dependabot[bot]"));
        assert!(!matches("*[bot]", "robot"));
        assert!(matches("repo-?", "REPO-7"));
        assert!(matches("svc-*-api", "svc-billing-api"));
        assert!(!matches("svc-*-api", "svc-billing-web"));
        assert!(matches("", ""));
        assert!(!matches("", "x"));
    }
}
