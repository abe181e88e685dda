//! Fields of `/proc/PID/stat` and `/proc/PID/io` (proc(5)), for the benchmark harnesses: CPU time
//! and bytes written per request (`hookgate-load`), page faults per start (`hookgate-coldstart`).

/// Field `n` of a `/proc/PID/stat` line, numbered as in proc(5) (1 pid, 2 comm, 3 state, 10
/// minflt, 12 majflt, 14 utime, 15 stime…), for `n` ≥ 3. The command name may hold spaces and
/// parentheses, so the fields after it are split after its last `)`.
pub fn field(stat: &str, n: usize) -> Result<u64, String> {
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unreadable /proc stat: no command name")?;
    let i = n
        .checked_sub(3)
        .ok_or_else(|| format!("field {n} is before the state"))?;
    let raw = rest
        .split_whitespace()
        .nth(i)
        .ok_or_else(|| format!("short /proc stat: no field {n}"))?;
    raw.parse()
        .map_err(|e| format!("field {n} of /proc stat ({raw:?}): {e}"))
}

/// Minor page faults (field 10) of the process `pid` so far.
pub fn minor_faults(pid: u32) -> Result<u64, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    field(&text, 10)
}

/// What a process has written so far, from `/proc/PID/io`: bytes passed to write calls (`wchar`:
/// files, the WAL and sockets alike, whether or not they have reached the disk yet) and the
/// number of those calls (`syscw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub calls: u64,
}

impl Written {
    /// Reads `/proc/PID/io` (the caller must own the process).
    pub fn of(pid: u32) -> Result<Self, String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .map_err(|e| format!("/proc/{pid}/io: {e}"))?;
        Self::parse(&text)
    }

    /// Parses the `name: value` lines of a `/proc/PID/io` file.
    pub fn parse(io: &str) -> Result<Self, String> {
        let value = |name: &str| -> Result<u64, String> {
            let raw = io
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .ok_or_else(|| format!("/proc io has no {name} line"))?;
            raw.trim()
                .parse()
                .map_err(|e| format!("{name} of /proc io ({raw:?}): {e}"))
        };
        Ok(Self {
            bytes: value("wchar")?,
            calls: value("syscw")?,
        })
    }

    /// What was written between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(earlier.bytes),
            calls: self.calls.saturating_sub(earlier.calls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 1234 0 7 0 700 83 0 0 20 0 9 0";

    #[test]
    fn fields_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(field(LINE, 4), Ok(1));
        assert_eq!(field(LINE, 10), Ok(1234));
        assert_eq!(field(LINE, 12), Ok(7));
        assert_eq!(field(LINE, 14), Ok(700));
        assert_eq!(field(LINE, 15), Ok(83));
    }

    #[test]
    fn short_broken_or_misnumbered_lines_are_refused() {
        assert!(field("4242 (short) S 1 2", 10).is_err());
        assert!(field("no command name", 4).is_err());
        assert!(field(LINE, 2).is_err());
        assert!(field(LINE, 3).is_err(), "the state is not a number");
    }

    const IO: &str = "rchar: 52728874\nwchar: 237521639\nsyscr: 12899\nsyscw: 129849\n\
                      read_bytes: 0\nwrite_bytes: 237588480\ncancelled_write_bytes: 0\n";

    #[test]
    fn written_is_wchar_and_syscw() {
        let w = Written::parse(IO).unwrap();
        assert_eq!(
            w,
            Written {
                bytes: 237_521_639,
                calls: 129_849
            }
        );
        let later = Written {
            bytes: w.bytes + 4096,
            calls: w.calls + 2,
        };
        assert_eq!(
            later.since(w),
            Written {
                bytes: 4096,
                calls: 2
            }
        );
        assert_eq!(w.since(later), Written { bytes: 0, calls: 0 });
    }

    #[test]
    fn io_without_its_lines_or_with_bad_numbers_is_refused() {
        assert!(Written::parse("rchar: 1\nsyscr: 2\n").is_err());
        assert!(Written::parse("wchar: many\nsyscw: 3\n").is_err());
        // `write_bytes` is not `wchar`, nor `cancelled_write_bytes` anything else.
        assert!(Written::parse("write_bytes: 9\nsyscw: 3\n").is_err());
    }

    #[test]
    fn this_process_has_written() {
        use std::io::Write;
        let before = Written::of(std::process::id()).unwrap();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[7u8; 1000]).unwrap();
        let after = Written::of(std::process::id()).unwrap();
        let w = after.since(before);
        assert!(w.bytes >= 1000 && w.calls >= 1, "{w:?}");
    }

    #[test]
    fn this_process_has_faulted_at_least_once() {
        assert!(minor_faults(std::process::id()).unwrap() > 0);
    }
}
