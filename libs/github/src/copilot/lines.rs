//! Splits a byte stream into NDJSON lines with bounded memory: a line
//! longer than [`MAX_LINE_BYTES`] is reported as too long (and skipped), so
//! one huge line cannot make the reader allocate without bound.

use std::io::Write;

/// The longest line kept, as in the original exporter.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One line of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line without its `\n` (or `\r\n`); may be blank.
    Text(&'a [u8]),
    /// A line longer than the limit, dropped.
    TooLong,
}

/// A [`Write`] sink that calls `on_line` for every complete line; call
/// [`LineSplitter::finish`] for the last one.
pub struct LineSplitter<'f> {
    buf: Vec<u8>,
    max: usize,
    overflowed: bool,
    on_line: &'f mut (dyn FnMut(Line<'_>) + Send),
}

impl std::fmt::Debug for LineSplitter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSplitter")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl<'f> LineSplitter<'f> {
    pub fn new(max: usize, on_line: &'f mut (dyn FnMut(Line<'_>) + Send)) -> Self {
        Self {
            buf: Vec::new(),
            max,
            overflowed: false,
            on_line,
        }
    }

    fn emit(&mut self) {
        if self.overflowed {
            (self.on_line)(Line::TooLong);
        } else {
            let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
            (self.on_line)(Line::Text(line));
        }
        self.buf.clear();
        self.overflowed = false;
    }

    fn take(&mut self, part: &[u8]) {
        if self.overflowed {
            return;
        }
        if self.buf.len() + part.len() > self.max {
            self.overflowed = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(part);
        }
    }

    /// The last line, if the stream did not end with a newline.
    pub fn finish(mut self) {
        if !self.buf.is_empty() || self.overflowed {
            self.emit();
        }
    }
}

impl Write for LineSplitter<'_> {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        let n = data.len();
        while let Some(i) = data.iter().position(|b| *b == b'\n') {
            self.take(&data[..i]);
            self.emit();
            data = &data[i + 1..];
        }
        self.take(data);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<Option<String>> {
        let mut out = Vec::new();
        let mut on_line = |l: Line<'_>| {
            out.push(match l {
                Line::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                Line::TooLong => None,
            })
        };
        let mut s = LineSplitter::new(max, &mut on_line);
        for c in chunks {
            s.write_all(c).unwrap();
        }
        s.finish();
        out
    }

    #[test]
    fn joins_lines_across_chunks_and_keeps_the_last() {
        let got = split(&[b"{\"a\":1}\r\n{\"b\"", b":2}\n\n", b"{\"c\":3}"], 100);
        let want = ["{\"a\":1}", "{\"b\":2}", "", "{\"c\":3}"];
        assert_eq!(got, want.map(|s| Some(s.to_owned())).to_vec());
    }

    #[test]
    fn a_line_over_the_limit_is_reported_once_and_skipped() {
        let got = split(&[b"short\n", b"0123456789", b"0123456789\nok\n"], 12);
        assert_eq!(got, vec![Some("short".into()), None, Some("ok".into())]);
    }
}
