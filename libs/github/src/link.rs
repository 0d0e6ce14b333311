//! The `Link` header of paginated answers.

/// The `rel="next"` URL of a `Link` header.
pub fn next(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| p.trim() == "rel=\"next\"");
        is_next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_next_among_others() {
        let h = "<https://api.github.com/orgs/a/repos?page=3>; rel=\"next\", <https://api.github.com/orgs/a/repos?page=9>; rel=\"last\"";
        assert_eq!(
            super::next(h),
            Some("https://api.github.com/orgs/a/repos?page=3")
        );
        assert_eq!(super::next("<https://x/?page=1>; rel=\"prev\""), None);
    }
}
