//! Word lengths, words and sentences: encoding, and the incremental decoder.

use super::{Limits, RouterOsError, MAX_ENCODABLE};

/// Appends the length prefix of a word of `len` bytes (at most [`MAX_ENCODABLE`]).
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    // Truncation cannot happen below: each arm's bound fits its width.
    let n = u32::try_from(len.min(MAX_ENCODABLE)).unwrap_or(u32::MAX);
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x4000 {
        out.extend_from_slice(&((n | 0x8000) as u16).to_be_bytes());
    } else if n < 0x20_0000 {
        out.extend_from_slice(&(n | 0xC0_0000).to_be_bytes()[1..]);
    } else if n < 0x1000_0000 {
        out.extend_from_slice(&(n | 0xE000_0000).to_be_bytes());
    } else {
        out.push(0xF0);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// The length announced at the start of `buf` and the prefix's size, or `None` when more
/// bytes are needed.
pub fn decode_length(buf: &[u8]) -> Result<Option<(usize, usize)>, RouterOsError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let (size, first) = match b0 {
        0x00..=0x7F => (1, u32::from(b0)),
        0x80..=0xBF => (2, u32::from(b0 & 0x3F)),
        0xC0..=0xDF => (3, u32::from(b0 & 0x1F)),
        0xE0..=0xEF => (4, u32::from(b0 & 0x0F)),
        0xF0 => (5, 0),
        _ => return Err(RouterOsError::ControlByte(b0)),
    };
    let Some(rest) = buf.get(1..size) else {
        return Ok(None);
    };
    let len = rest.iter().fold(first, |acc, b| (acc << 8) | u32::from(*b));
    Ok(Some((len as usize, size)))
}

/// Appends one word (its length prefix, then its bytes).
pub fn encode_word(word: &[u8], out: &mut Vec<u8>) {
    encode_length(word.len(), out);
    out.extend_from_slice(word);
}

/// Appends a sentence: each word, then the empty word that ends it.
pub fn encode_sentence<W: AsRef<[u8]>>(words: &[W], out: &mut Vec<u8>) {
    for w in words {
        encode_word(w.as_ref(), out);
    }
    out.push(0);
}

/// Sentences out of a byte stream fed in pieces of any size.
///
/// Memory is bounded: a word is buffered only after its prefix passed the limits, so the
/// buffer holds at most one word of [`Limits::max_word`] plus what the caller fed beyond
/// it; the words of an unfinished sentence are bounded by the sentence limits.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed (compacted lazily).
    pos: usize,
    words: Vec<Vec<u8>>,
    sentence_bytes: usize,
    /// A decode error is final: the stream's framing is lost.
    failed: Option<RouterOsError>,
}

impl Decoder {
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            ..Default::default()
        }
    }

    /// Adds bytes read from the peer.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes fed and not yet part of a returned sentence or a buffered word.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether a sentence has begun and not ended (words or bytes pending).
    pub fn mid_sentence(&self) -> bool {
        !self.words.is_empty() || self.buffered() > 0
    }

    /// How many more bytes the decoder wants before it can make progress, as a hint for
    /// the caller's read size (at least 1).
    pub fn wanted(&self) -> usize {
        match decode_length(&self.buf[self.pos..]) {
            Ok(Some((len, n))) => (n + len).saturating_sub(self.buffered()).max(1),
            _ => 1,
        }
    }

    /// The next whole sentence, `None` when more bytes are needed. After an error every
    /// call returns that error.
    pub fn next_sentence(&mut self) -> Result<Option<Vec<Vec<u8>>>, RouterOsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(s) => Ok(s),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn step(&mut self) -> Result<Option<Vec<Vec<u8>>>, RouterOsError> {
        let l = self.limits;
        loop {
            let rest = &self.buf[self.pos..];
            let Some((len, n)) = decode_length(rest)? else {
                return Ok(None);
            };
            if len > l.max_word {
                return Err(RouterOsError::WordTooLong {
                    len,
                    max: l.max_word,
                });
            }
            if self.sentence_bytes + n + len > l.max_sentence_bytes {
                return Err(RouterOsError::SentenceTooLarge {
                    max: l.max_sentence_bytes,
                });
            }
            if len > 0 && self.words.len() >= l.max_words {
                return Err(RouterOsError::TooManyWords { max: l.max_words });
            }
            let Some(word) = rest.get(n..n + len) else {
                return Ok(None);
            };
            let word = word.to_vec();
            self.pos += n + len;
            if len == 0 {
                self.sentence_bytes = 0;
                return Ok(Some(std::mem::take(&mut self.words)));
            }
            self.sentence_bytes += n + len;
            self.words.push(word);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issue17_routeros_length_prefix_boundaries() {
        for (len, bytes) in [
            (0usize, vec![0x00u8]),
            (0x7F, vec![0x7F]),
            (0x80, vec![0x80, 0x80]),
            (0x3FFF, vec![0xBF, 0xFF]),
            (0x4000, vec![0xC0, 0x40, 0x00]),
            (0x1F_FFFF, vec![0xDF, 0xFF, 0xFF]),
            (0x20_0000, vec![0xE0, 0x20, 0x00, 0x00]),
            (0x0FFF_FFFF, vec![0xEF, 0xFF, 0xFF, 0xFF]),
            (0x1000_0000, vec![0xF0, 0x10, 0x00, 0x00, 0x00]),
        ] {
            let mut out = Vec::new();
            encode_length(len, &mut out);
            assert_eq!(out, bytes, "{len:#x}");
            assert_eq!(decode_length(&out).unwrap(), Some((len, bytes.len())));
            assert_eq!(decode_length(&out[..out.len() - 1]).unwrap(), None);
        }
        assert_eq!(
            decode_length(&[0xF8]),
            Err(RouterOsError::ControlByte(0xF8))
        );
    }

    #[test]
    fn issue17_routeros_decoder_refuses_an_oversized_prefix_before_buffering() {
        let mut d = Decoder::new(Limits::default());
        d.feed(&[0xF0, 0x7F, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(
            d.next_sentence(),
            Err(RouterOsError::WordTooLong { .. })
        ));
        // Final: the framing is lost.
        d.feed(&[0]);
        assert!(d.next_sentence().is_err());
    }

    #[test]
    fn issue17_routeros_decoder_bounds_words_per_sentence() {
        let limits = Limits {
            max_words: 3,
            ..Limits::default()
        };
        let mut d = Decoder::new(limits);
        let mut bytes = Vec::new();
        encode_sentence(&["!re", "=a=1", "=b=2"], &mut bytes);
        encode_sentence(&["!re", "=a=1", "=b=2", "=c=3"], &mut bytes);
        d.feed(&bytes);
        assert_eq!(d.next_sentence().unwrap().unwrap().len(), 3);
        assert_eq!(
            d.next_sentence(),
            Err(RouterOsError::TooManyWords { max: 3 })
        );
    }
}
