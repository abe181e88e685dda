//! Fields of `/proc/PID/stat` (proc(5)), for the benchmark harnesses: CPU time per request
//! (`hookgate-load`) and page faults per start (`hookgate-coldstart`).

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

    #[test]
    fn this_process_has_faulted_at_least_once() {
        assert!(minor_faults(std::process::id()).unwrap() > 0);
    }
}
