//! Finds the line of a key path (`github.orgs[1].org`) in a YAML text, so
//! errors found after parsing can still point at the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line numbers (1-based) of every key and sequence item of a document.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    /// Indexes `text`; a text that does not parse gives an empty index.
    pub fn build(text: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return Self::default();
        }
        Self {
            lines: walker.lines,
        }
    }

    /// The line of `path`, or of its nearest written ancestor.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

#[derive(Debug)]
enum Frame {
    Map { key: Option<String>, want_key: bool },
    Seq { index: usize },
}

#[derive(Debug, Default)]
struct Walker {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl Walker {
    fn path(&self) -> String {
        let mut out = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Map { key: Some(k), .. } => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Frame::Map { key: None, .. } => {}
                Frame::Seq { index } => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }

    /// A value node starts; a sequence item is recorded at its first line.
    fn begin_value(&mut self, mark: &Marker) {
        if matches!(self.stack.last(), Some(Frame::Seq { .. })) {
            let path = self.path();
            self.lines.entry(path).or_insert(mark.line());
        }
    }

    fn end_value(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { want_key, .. }) => *want_key = true,
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { key, want_key }) = self.stack.last_mut()
                    && *want_key
                {
                    *key = Some(value);
                    *want_key = false;
                    let path = self.path();
                    self.lines.entry(path).or_insert(mark.line());
                    return;
                }
                self.begin_value(&mark);
                self.end_value();
            }
            Event::Alias(_) => {
                self.begin_value(&mark);
                self.end_value();
            }
            Event::MappingStart(..) => {
                self.begin_value(&mark);
                self.stack.push(Frame::Map {
                    key: None,
                    want_key: true,
                });
            }
            Event::SequenceStart(..) => {
                self.begin_value(&mark);
                self.stack.push(Frame::Seq { index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.end_value();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_items() {
        let text = "server:\n  listen_addr: \":8080\"\ngithub:\n  orgs:\n    - org: a\n      app_id: 1\n    - org: b\n      scrape_interval: 5m\n  flow: [1, 2]\n";
        let index = LineIndex::build(text);
        assert_eq!(index.line_of("server.listen_addr"), Some(2));
        assert_eq!(index.line_of("github.orgs[0].app_id"), Some(6));
        assert_eq!(index.line_of("github.orgs[1].org"), Some(7));
        assert_eq!(index.line_of("github.orgs[1].scrape_interval"), Some(8));
        assert_eq!(index.line_of("github.flow"), Some(9));
        // A missing key falls back to its nearest ancestor.
        assert_eq!(index.line_of("github.orgs[1].token_env"), Some(7));
        assert_eq!(index.line_of("store.redis_addr"), None);
    }
}
