//! `exec`: runs a local program for an event (how self-hosted teams trigger their own scripts).
//!
//! The program is `command[0]` with `command[1..]` and then the resolved `args` as separate argv
//! entries (no shell: a payload value is never interpreted). Its environment is the gateway's,
//! plus the resolved `env`, plus `HOOKGATE_EVENT_ID`, `HOOKGATE_SOURCE`, `HOOKGATE_EVENT_TYPE`,
//! `HOOKGATE_DELIVERY_ID` and `HOOKGATE_GENERATION`. The event's [`Event::envelope`] JSON is
//! written to its stdin while its output is read, so a program that never reads stdin, or writes a
//! lot, cannot deadlock. A relative `command[0]` with a path separator (`./deploy.sh`) is taken
//! relative to `working_dir` when one is set.
//!
//! Outcomes: exit 0 is a success; exit 75 (`EX_TEMPFAIL`), death by a signal and the timeout are
//! transient; any other exit code, and a program that cannot be started, are permanent. The
//! program leads its own process group: on timeout (or when the handler is cancelled) the whole
//! group is killed; after a normal exit, anything it deliberately left running in the background
//! is left alone (its output is no longer read after a short grace period).
//! The report keeps the exit code and the last [`OUTPUT_TAIL_BYTES`] of stdout and stderr. On
//! Unix both go to one pipe (as `2>&1` would), so the tail keeps the order the program wrote in.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
#[cfg(unix)]
use std::os::unix::process::CommandExt;
#[cfg(unix)]
use std::process::{Child, Command};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
#[cfg(not(unix))]
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use super::{BuildError, Event, Handler, HandlerError, HandlerReport};
use crate::routing::ValueSource;

/// The most output kept in a report: the tail, in bytes.
pub const OUTPUT_TAIL_BYTES: usize = 2048;
/// `EX_TEMPFAIL` from `sysexits.h`: "try again later".
pub const EX_TEMPFAIL: i32 = 75;

/// How long output is still read after the program exited (a background child it started may
/// hold its stdout open; that must not hold the handler).
const DRAIN_GRACE: Duration = Duration::from_millis(250);
/// How long to wait for a killed program to be reaped.
const REAP_LIMIT: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 8 * 1024;

const EVENT_ENV: [&str; 5] = [
    "HOOKGATE_EVENT_ID",
    "HOOKGATE_SOURCE",
    "HOOKGATE_EVENT_TYPE",
    "HOOKGATE_DELIVERY_ID",
    "HOOKGATE_GENERATION",
];

#[derive(Debug)]
pub struct ExecHandler {
    name: String,
    program: PathBuf,
    /// `command[0]` as configured, for messages.
    shown: String,
    fixed_args: Vec<String>,
    args: Vec<ValueSource>,
    env: Vec<(String, ValueSource)>,
    timeout: Duration,
    working_dir: Option<PathBuf>,
}

impl ExecHandler {
    pub fn new(
        name: &str,
        command: &[String],
        args: &[String],
        env: &BTreeMap<String, String>,
        timeout: Duration,
        working_dir: Option<&str>,
    ) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError {
            name: name.to_owned(),
            message,
        };
        let (first, fixed) = match command.split_first() {
            Some((f, rest)) if !f.is_empty() => (f, rest),
            _ => return Err(fail("`command` must name a program".into())),
        };
        if let Some(a) = command.iter().find(|a| a.contains('\0')) {
            return Err(fail(format!(
                "`command`: `{}` contains a NUL byte",
                a.escape_debug()
            )));
        }
        if timeout.is_zero() {
            return Err(fail("`timeout` must be more than 0".into()));
        }
        let args = args
            .iter()
            .enumerate()
            .map(|(i, a)| ValueSource::parse(a).map_err(|m| fail(format!("`args[{i}]`: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let env = env
            .iter()
            .map(|(k, v)| {
                if k.is_empty() || k.contains(['=', '\0']) {
                    return Err(fail(format!(
                        "`env`: `{}` is not a variable name",
                        k.escape_debug()
                    )));
                }
                if EVENT_ENV.contains(&k.as_str()) {
                    return Err(fail(format!(
                        "`env`: `{k}` is set by the exec handler itself"
                    )));
                }
                ValueSource::parse(v)
                    .map(|s| (k.clone(), s))
                    .map_err(|m| fail(format!("`env.{k}`: {m}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let working_dir = working_dir.map(PathBuf::from);
        let mut program = PathBuf::from(first);
        if let Some(dir) = &working_dir
            && program.is_relative()
            && program.components().count() > 1
        {
            program = dir.join(program);
        }
        Ok(Self {
            name: name.to_owned(),
            program,
            shown: first.clone(),
            fixed_args: fixed.to_vec(),
            args,
            env,
            timeout,
            working_dir,
        })
    }

    fn command(&self, event: &Event, args: &[String], env: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.fixed_args)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env(EVENT_ENV[0], event.event_id.as_str())
            .env(EVENT_ENV[1], event.source.as_str())
            .env(EVENT_ENV[2], &event.event_type)
            .env(EVENT_ENV[3], event.delivery_id.as_str())
            .env(EVENT_ENV[4], event.generation.to_string())
            .stdin(Stdio::piped());
        #[cfg(unix)]
        cmd.process_group(0);
        #[cfg(not(unix))]
        cmd.kill_on_drop(true)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.working_dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    fn spawn_error(&self, e: &io::Error) -> HandlerError {
        let p = &self.shown;
        match e.kind() {
            io::ErrorKind::NotFound => HandlerError::permanent(if p.contains('/') {
                format!("program `{p}` (or its #! interpreter) does not exist")
            } else {
                format!("program `{p}` not found on PATH")
            }),
            io::ErrorKind::PermissionDenied => HandlerError::permanent(format!(
                "program `{p}` is not executable (permission denied)"
            )),
            io::ErrorKind::InvalidInput => {
                HandlerError::permanent(format!("cannot start `{p}`: {e}"))
            }
            _ if is_exec_format_error(e) => HandlerError::permanent(format!(
                "`{p}` is not an executable program (a script needs a #! line)"
            )),
            // Resource exhaustion (EAGAIN, EMFILE, ENOMEM…) and the like may pass.
            _ => HandlerError::transient(format!("cannot start `{p}`: {e}")),
        }
    }
}

#[async_trait]
impl Handler for ExecHandler {
    async fn handle(&self, event: &Event) -> Result<HandlerReport, HandlerError> {
        let started = Instant::now();
        let payload = event.payload.as_ref();
        let args: Vec<String> = self.args.iter().map(|a| a.resolve(payload)).collect();
        if let Some(i) = args.iter().position(|a| a.contains('\0')) {
            return Err(HandlerError::permanent(format!(
                "argument {i} resolved from the payload contains a NUL byte"
            )));
        }
        let env: Vec<(&str, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.resolve(payload)))
            .collect();
        if let Some((k, _)) = env.iter().find(|(_, v)| v.contains('\0')) {
            return Err(HandlerError::permanent(format!(
                "environment variable `{k}` resolved from the payload contains a NUL byte"
            )));
        }
        if let Some(dir) = &self.working_dir
            && !dir.is_dir()
        {
            return Err(HandlerError::permanent(format!(
                "working_dir `{}` is not a directory",
                dir.display()
            )));
        }
        let stdin_bytes = serde_json::to_vec(&event.envelope()).map_err(|e| {
            HandlerError::permanent(format!("cannot encode the event envelope: {e}"))
        })?;

        let mut cmd = self.command(event, &args, &env);
        #[cfg(unix)]
        let merged = merged_output(&mut cmd)
            .map_err(|e| HandlerError::transient(format!("cannot create the output pipe: {e}")))?;
        let spawned = spawn(&mut cmd).await;
        // The command holds our copies of the output pipe's write end: close them now, or the
        // pipe never reaches its end.
        drop(cmd);
        let mut child = spawned.map_err(|e| self.spawn_error(&e))?;
        let mut group = ProcessGroup::of(&child);
        #[cfg(unix)]
        let stdin = child
            .stdin
            .take()
            .and_then(|s| tokio::net::unix::pipe::Sender::from_owned_fd(s.into()).ok());
        #[cfg(not(unix))]
        let stdin = child.stdin.take();
        #[cfg(unix)]
        let mut child = Running::new(child);
        #[cfg(unix)]
        let output = Output::Merged(merged);
        #[cfg(not(unix))]
        let output = Output::Split(child.stdout.take(), child.stderr.take());

        let mut tail = Tail::new(OUTPUT_TAIL_BYTES);
        let ended = {
            let mut pump = Box::pin(async {
                tokio::join!(feed(stdin, &stdin_bytes), collect(output, &mut tail));
            });
            let deadline = tokio::time::Instant::now() + self.timeout;
            let mut pumped = false;
            let ended = loop {
                tokio::select! {
                    r = child.wait() => break Ended::Exited(r),
                    () = &mut pump, if !pumped => pumped = true,
                    () = tokio::time::sleep_until(deadline) => break Ended::TimedOut,
                }
            };
            if !matches!(ended, Ended::Exited(Ok(_))) {
                // Timed out (or cannot be waited for): kill the whole group before reaping the
                // leader, so its process group id cannot have been reused.
                group.kill();
                let _ = child.start_kill();
                let _ = tokio::time::timeout(REAP_LIMIT, child.wait()).await;
            }
            group.disarm();
            if !pumped {
                let _ = tokio::time::timeout(DRAIN_GRACE, &mut pump).await;
            }
            ended
        };
        let output = tail.into_string();
        let elapsed_ms = started.elapsed().as_millis() as u64;

        let result = match ended {
            Ended::TimedOut => Err(HandlerError {
                output,
                ..HandlerError::transient(format!(
                    "`{}` timed out after {} and was killed",
                    self.shown,
                    humantime::format_duration(self.timeout)
                ))
            }),
            Ended::Exited(Err(e)) => Err(HandlerError {
                output,
                ..HandlerError::transient(format!("cannot wait for `{}`: {e}", self.shown))
            }),
            Ended::Exited(Ok(status)) => self.judge(status, output),
        };
        match &result {
            Ok(r) => tracing::debug!(
                handler = %self.name,
                event_id = %event.event_id,
                exit_code = r.exit_code,
                elapsed_ms,
                "exec finished"
            ),
            Err(e) => tracing::warn!(
                handler = %self.name,
                event_id = %event.event_id,
                exit_code = e.exit_code,
                elapsed_ms,
                error = %e.message,
                "exec failed"
            ),
        }
        result
    }
}

impl ExecHandler {
    fn judge(
        &self,
        status: ExitStatus,
        output: Option<String>,
    ) -> Result<HandlerReport, HandlerError> {
        match status.code() {
            Some(0) => Ok(HandlerReport {
                http_status: None,
                exit_code: Some(0),
                output,
            }),
            Some(code) => {
                let mut err = if code == EX_TEMPFAIL {
                    HandlerError::transient(format!(
                        "`{}` exited with {code} (EX_TEMPFAIL: try again later)",
                        self.shown
                    ))
                } else {
                    HandlerError::permanent(format!("`{}` exited with {code}", self.shown))
                };
                err.exit_code = Some(code);
                err.output = output;
                Err(err)
            }
            None => Err(HandlerError {
                output,
                ..HandlerError::transient(match signal_of(status) {
                    Some(s) => format!("`{}` was killed by signal {s}", self.shown),
                    None => format!("`{}` ended without an exit code", self.shown),
                })
            }),
        }
    }
}

enum Ended {
    Exited(io::Result<ExitStatus>),
    TimedOut,
}

/// Spawns, retrying briefly on `ETXTBSY` (a script being written, or its file descriptor
/// momentarily inherited by another thread's fork).
async fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut delay = Duration::from_millis(10);
    for _ in 0..4 {
        match cmd.spawn() {
            Err(e) if is_text_busy(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    cmd.spawn()
}

#[cfg(unix)]
fn is_text_busy(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error())
}
#[cfg(not(unix))]
fn is_text_busy(_: &io::Error) -> bool {
    false
}

#[cfg(unix)]
fn is_exec_format_error(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::NOEXEC.raw_os_error())
}
#[cfg(not(unix))]
fn is_exec_format_error(_: &io::Error) -> bool {
    false
}

#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}
#[cfg(not(unix))]
fn signal_of(_: ExitStatus) -> Option<i32> {
    None
}

/// A started program, waited for without tokio's process driver: its exit is watched from a
/// blocking thread with `waitid(WEXITED | WNOWAIT)`, which leaves it a zombie, and it is reaped
/// here only then. Until reaped, its pid and process group id cannot be reused, so killing the
/// group after a timeout never reaches another program. (tokio's `process` feature would set up
/// its signal driver in every runtime of the binary: ~35 000 instructions of the processor's
/// cold start.) Dropped before its exit (a cancelled handler), it is killed and reaped on a
/// thread of its own.
#[cfg(unix)]
struct Running {
    child: Option<Child>,
    exit: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

#[cfg(unix)]
impl Running {
    fn new(child: Child) -> Self {
        let pid = rustix::process::Pid::from_child(&child);
        let exit = tokio::task::spawn_blocking(move || {
            use rustix::process::{WaitId, WaitIdOptions, waitid};
            loop {
                match waitid(
                    WaitId::Pid(pid),
                    WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
                ) {
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(io::Error::from(e)),
                    Ok(_) => return Ok(()),
                }
            }
        });
        Self {
            child: Some(child),
            exit: Some(exit),
        }
    }

    /// The exit status, once the program has ended (cancel-safe: the watch goes on).
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(exit) = &mut self.exit {
            let watched = exit.await;
            self.exit = None;
            watched.map_err(io::Error::other)??;
        }
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| io::Error::other("the program was reaped already"))?;
        let status = child
            .try_wait()?
            .ok_or_else(|| io::Error::other("the program ended but cannot be reaped"))?;
        self.child = None;
        Ok(status)
    }

    fn start_kill(&mut self) -> io::Result<()> {
        match &mut self.child {
            Some(c) => c.kill(),
            None => Ok(()),
        }
    }
}

#[cfg(unix)]
impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = std::thread::Builder::new()
                .name("hookgate-exec-reap".into())
                .spawn(move || {
                    let _ = child.wait();
                });
        }
    }
}

/// The program's process group (it leads its own): killed on timeout, or when the handler is
/// dropped mid-run, so nothing it started outlives it. Disarmed once the leader has been reaped.
struct ProcessGroup {
    #[cfg(unix)]
    pgid: Option<rustix::process::Pid>,
}

impl ProcessGroup {
    #[cfg(unix)]
    fn of(child: &Child) -> Self {
        Self {
            pgid: Some(rustix::process::Pid::from_child(child)),
        }
    }
    #[cfg(not(unix))]
    fn of(_: &Child) -> Self {
        Self {}
    }

    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.take() {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }

    fn disarm(&mut self) {
        #[cfg(unix)]
        {
            self.pgid = None;
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes the envelope to stdin, then closes it. A program that exits without reading it is fine.
async fn feed(stdin: Option<impl AsyncWrite + Unpin>, bytes: &[u8]) {
    if let Some(mut s) = stdin {
        let _ = s.write_all(bytes).await;
        let _ = s.shutdown().await;
    }
}

/// Where the program's output is read from.
enum Output {
    /// stdout and stderr share one pipe.
    #[cfg(unix)]
    Merged(tokio::net::unix::pipe::Receiver),
    #[cfg(not(unix))]
    Split(Option<ChildStdout>, Option<ChildStderr>),
}

/// Points the command's stdout and stderr at one new pipe; returns its read end.
#[cfg(unix)]
fn merged_output(cmd: &mut Command) -> io::Result<tokio::net::unix::pipe::Receiver> {
    let (read, write) = cloexec_pipe()?;
    let write2 = write.try_clone()?;
    cmd.stdout(Stdio::from(write)).stderr(Stdio::from(write2));
    tokio::net::unix::pipe::Receiver::from_owned_fd(read)
}

/// A pipe whose ends are not inherited by programs other threads start meanwhile.
#[cfg(target_os = "linux")]
fn cloexec_pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}
#[cfg(all(unix, not(target_os = "linux")))]
fn cloexec_pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let (read, write) = rustix::pipe::pipe()?;
    rustix::io::fcntl_setfd(&read, rustix::io::FdFlags::CLOEXEC)?;
    rustix::io::fcntl_setfd(&write, rustix::io::FdFlags::CLOEXEC)?;
    Ok((read, write))
}

/// Reads the output to its end, keeping only the tail (memory stays bounded).
async fn collect(output: Output, tail: &mut Tail) {
    match output {
        #[cfg(unix)]
        Output::Merged(mut r) => {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => tail.push(&buf[..n]),
                }
            }
        }
        #[cfg(not(unix))]
        Output::Split(mut out, mut err) => {
            let mut out_buf = vec![0u8; READ_CHUNK];
            let mut err_buf = vec![0u8; READ_CHUNK];
            loop {
                tokio::select! {
                    r = read_some(&mut out, &mut out_buf), if out.is_some() => match r {
                        Some(n) => tail.push(&out_buf[..n]),
                        None => out = None,
                    },
                    r = read_some(&mut err, &mut err_buf), if err.is_some() => match r {
                        Some(n) => tail.push(&err_buf[..n]),
                        None => err = None,
                    },
                    else => break,
                }
            }
        }
    }
}

#[cfg(not(unix))]
/// One read: `Some(n)` with `n > 0`, or `None` at the end (or on an error).
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    r: &mut Option<R>,
    buf: &mut [u8],
) -> Option<usize> {
    match r {
        Some(r) => match r.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => None,
    }
}

/// The last `cap` bytes written to it.
struct Tail {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Self {
            buf: Vec::with_capacity(cap),
            cap,
            truncated: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= self.cap {
            self.truncated |= bytes.len() > self.cap || !self.buf.is_empty();
            self.buf.clear();
            self.buf.extend_from_slice(&bytes[bytes.len() - self.cap..]);
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.cap {
            let excess = self.buf.len() - self.cap;
            self.buf.drain(..excess);
            self.truncated = true;
        }
    }

    /// The tail as text (lossy UTF-8, at most `cap` bytes, starting on a character), or `None`
    /// when there was no output.
    fn into_string(self) -> Option<String> {
        let mut bytes: &[u8] = &self.buf;
        if self.truncated {
            // Skip the rest of a character cut in two (UTF-8 continuation bytes).
            let skip = bytes
                .iter()
                .take(3)
                .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
                .count();
            bytes = &bytes[skip..];
        }
        if bytes.is_empty() {
            return None;
        }
        let s = String::from_utf8_lossy(bytes);
        if s.len() <= self.cap {
            return Some(s.into_owned());
        }
        // Replacement characters made it longer: keep the last `cap` bytes' worth.
        let mut start = s.len() - self.cap;
        while !s.is_char_boundary(start) {
            start += 1;
        }
        Some(s[start..].to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes() {
        let mut t = Tail::new(8);
        t.push(b"hello ");
        t.push(b"world!");
        assert_eq!(t.into_string().as_deref(), Some("o world!"));

        let mut t = Tail::new(8);
        t.push(&[b'x'; 100]);
        t.push(b"ab");
        assert_eq!(t.into_string().as_deref(), Some("xxxxxxab"));

        let t = Tail::new(8);
        assert_eq!(t.into_string(), None);

        // A multi-byte character cut at the front is dropped, not turned into U+FFFD.
        let mut t = Tail::new(5);
        t.push("aé€".as_bytes()); // 1 + 2 + 3 bytes
        t.push("b".as_bytes());
        let s = t.into_string().unwrap();
        assert_eq!(s, "€b");

        // Invalid bytes never push the result past the cap.
        let mut t = Tail::new(4);
        t.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(t.into_string().unwrap().len() <= 4);
    }

    #[test]
    fn build_rejects_bad_config() {
        let env = BTreeMap::new();
        let t = Duration::from_secs(1);
        assert!(ExecHandler::new("x", &[], &[], &env, t, None).is_err());
        assert!(ExecHandler::new("x", &["".into()], &[], &env, t, None).is_err());
        assert!(ExecHandler::new("x", &["a".into()], &["$[".into()], &env, t, None).is_err());
        let mut bad = BTreeMap::new();
        bad.insert("HOOKGATE_EVENT_ID".to_owned(), "x".to_owned());
        assert!(ExecHandler::new("x", &["a".into()], &[], &bad, t, None).is_err());
        let h =
            ExecHandler::new("x", &["./run.sh".into()], &[], &env, t, Some("/srv/hooks")).unwrap();
        assert_eq!(h.program, PathBuf::from("/srv/hooks/./run.sh"));
        let h = ExecHandler::new("x", &["run".into()], &[], &env, t, Some("/srv/hooks")).unwrap();
        assert_eq!(h.program, PathBuf::from("run"));
    }
}
