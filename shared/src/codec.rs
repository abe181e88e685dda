//! Body encoding for storage: zstd when it saves space, the raw bytes otherwise.
//!
//! The stored form is one tag byte followed by the payload, so a reader never guesses.

use bytes::Bytes;

const RAW: u8 = 0;
const ZSTD: u8 = 1;
/// zstd level: low levels are several times faster than HMAC-bound ingest needs and still shrink
/// JSON by 3-5×.
const LEVEL: i32 = 1;
/// Below this size compression rarely pays for its frame header.
const MIN_TO_COMPRESS: usize = 64;

#[derive(Debug, thiserror::Error)]
#[error("stored body cannot be decoded: {0}")]
pub struct CodecError(String);

/// Encodes a body for storage.
pub fn encode_body(body: &[u8]) -> Vec<u8> {
    if body.len() >= MIN_TO_COMPRESS
        && let Ok(z) = zstd::bulk::compress(body, LEVEL)
        && z.len() + 1 < body.len()
    {
        let mut out = Vec::with_capacity(z.len() + 1);
        out.push(ZSTD);
        out.extend_from_slice(&z);
        return out;
    }
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(RAW);
    out.extend_from_slice(body);
    out
}

/// Decodes what [`encode_body`] produced.
pub fn decode_body(stored: &[u8], max_len: usize) -> Result<Bytes, CodecError> {
    match stored.split_first() {
        None => Ok(Bytes::new()),
        Some((&RAW, rest)) => Ok(Bytes::copy_from_slice(rest)),
        Some((&ZSTD, rest)) => zstd::bulk::decompress(rest, max_len)
            .map(Bytes::from)
            .map_err(|e| CodecError(e.to_string())),
        Some((tag, _)) => Err(CodecError(format!("unknown body encoding tag {tag}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_large_and_incompressible() {
        let json =
            br#"{"ref":"refs/heads/main","repository":{"full_name":"octo/hello"}}"#.repeat(40);
        let enc = encode_body(&json);
        assert_eq!(enc[0], ZSTD);
        assert!(enc.len() < json.len() / 3);
        assert_eq!(decode_body(&enc, json.len()).unwrap(), json);

        let tiny = b"{}";
        assert_eq!(decode_body(&encode_body(tiny), 10).unwrap(), &tiny[..]);

        let noise: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert_eq!(decode_body(&encode_body(&noise), 4096).unwrap(), noise);
        assert!(decode_body(&[9, 1, 2], 10).is_err());
    }
}
