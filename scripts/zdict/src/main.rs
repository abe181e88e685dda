//! `hookgate-zdict CONTENT SAMPLES_DIR OUT`: zstd's `ZDICT_finalizeDictionary` over a raw-content
//! dictionary (CONTENT) and sample bodies (every file of SAMPLES_DIR, in name order), at the
//! level hookgate compresses with. The result keeps CONTENT byte for byte at its end and adds
//! entropy tables fitted to the samples, so a compressor starts from tables that suit webhook
//! JSON instead of building and sending its own for every body.

use std::ffi::c_void;

/// hookgate's zstd level (`shared/src/codec.rs`).
const LEVEL: i32 = 1;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [content, samples_dir, out] = args.as_slice() else {
        return Err("usage: hookgate-zdict CONTENT SAMPLES_DIR OUT".into());
    };
    let content = std::fs::read(content).map_err(|e| format!("{content}: {e}"))?;
    let mut paths: Vec<_> = std::fs::read_dir(samples_dir)
        .map_err(|e| format!("{samples_dir}: {e}"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    paths.sort();
    let (mut samples, mut sizes) = (Vec::new(), Vec::new());
    for p in &paths {
        let body = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        sizes.push(body.len());
        samples.extend_from_slice(&body);
    }
    let mut dict = vec![0u8; content.len() + 64 * 1024];
    let params = zstd_sys::ZDICT_params_t {
        compressionLevel: LEVEL,
        notificationLevel: 0,
        dictID: 0, // derived from a hash of CONTENT: the same inputs give the same bytes
    };
    // SAFETY: every pointer and length describes a live buffer of that length.
    let n = unsafe {
        zstd_sys::ZDICT_finalizeDictionary(
            dict.as_mut_ptr().cast::<c_void>(),
            dict.len(),
            content.as_ptr().cast::<c_void>(),
            content.len(),
            samples.as_ptr().cast::<c_void>(),
            sizes.as_ptr(),
            u32::try_from(sizes.len()).map_err(|e| e.to_string())?,
            params,
        )
    };
    // SAFETY: a plain function of the returned code.
    if unsafe { zstd_sys::ZDICT_isError(n) } != 0 {
        return Err(format!("ZDICT_finalizeDictionary failed (code {n})"));
    }
    dict.truncate(n);
    if !dict.ends_with(&content) {
        return Err("the finalized dictionary does not end with the content".into());
    }
    std::fs::write(out, &dict).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "{out}: {n} bytes ({} of content, {} of tables) from {} samples",
        content.len(),
        n - content.len(),
        sizes.len()
    );
    Ok(())
}
