//! Subprocesses as steps: a command made from the step's input, its stdout the
//! step's output.
//!
//! [`json`] parses stdout as JSON of the output type, [`lines`] splits it into lines.
//! The program, its arguments, environment and working folder come from the input
//! (a [`Command`], or anything the step's function turns into one); stdin is empty.
//!
//! # Error names
//!
//! | failure | name |
//! | --- | --- |
//! | the command exited with code `N` (not 0) | `Command.ExitCode.N` (`Command.ExitCode.1`; [`exit_code`] reads `N` back) |
//! | the command was killed by a signal | `Command.Killed` |
//! | the command ran past [`CommandConfig::timeout`](CommandConfig) | `Command.Timeout` |
//! | stdout is not what the step returns (not JSON of the type, not UTF-8) | `Command.BadOutput` |
//! | stdout is longer than [`CommandConfig::max_output`](CommandConfig) (16 MiB by default); the command is killed | `Command.OutputTooLarge` |
//! | the program could not be started (not found, not executable) | `Command.SpawnFailed` |
//!
//! The message of an exit or kill quotes the end of stderr (the last 2 KiB by default).
//!
//! # The process never outlives its step
//!
//! The command runs as the leader of a process group of its own. When it ends, and
//! when the step's future is dropped — its timeout fired, a waypost
//! [`timeout`](waypost_core::StepExt::timeout) fired, the execution was cancelled or its
//! worker lost the lease — the whole group is killed with `SIGKILL`: a shell's
//! background children go with it. A program that starts a new process group or
//! session of its own escapes this, as it escapes a terminal's Ctrl-C.
//!
//! When the worker's process itself dies without running its destructors (`SIGKILL`,
//! an abort, the OOM killer), a watchdog kills the group: a `/bin/sh` started beside
//! each command, in a group of its own, which waits on a pipe only the worker holds and
//! kills the command's group when that pipe closes. It costs one small process per
//! running command, and ends with the step.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::tasks::{command, Command};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let count = command::json::<u32, Vec<u32>>("count", |n: u32| {
//!     Command::new("sh").arg("-c").arg("seq -s, 1 \"$N\" | sed 's/.*/[&]/'").env("N", n.to_string())
//! });
//! let wf = Workflow::new("count", 1, count);
//! assert_eq!(Runtime::new().run(&wf, 3).await.unwrap(), [1, 2, 3]);
//!
//! let failing = command::lines("fail", |_: ()| Command::shell("echo oops >&2; exit 3"));
//! let error = Runtime::new().run(&Workflow::new("fail", 1, failing), ()).await.unwrap_err();
//! assert_eq!(error.name(), "Command.ExitCode.3");
//! assert_eq!(command::exit_code(&error), Some(3));
//! assert!(error.message().ends_with("oops\n"));
//! # }
//! ```

mod group;
mod output;
mod watchdog;

use std::fmt;
use std::marker::PhantomData;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::future::{Either, select};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use typed_builder::TypedBuilder;
use waypost_core::graph::{Describe, NodeKind, RESOURCE};
use waypost_core::task::run_task;
use waypost_core::{Context, Error, Payload, Step, StepContext};

use crate::http::Secret;

use group::ProcessGroup;
use watchdog::Watchdog;

/// The prefix of the name of a non-zero exit: `Command.ExitCode.N`.
pub const EXIT_CODE_PREFIX: &str = "Command.ExitCode.";
/// `Command.Killed`: the command was killed by a signal.
pub const KILLED: &str = "Command.Killed";
/// `Command.Timeout`: the command ran past its configured timeout.
pub const TIMEOUT: &str = "Command.Timeout";
/// `Command.BadOutput`: stdout is not what the step returns.
pub const BAD_OUTPUT: &str = "Command.BadOutput";
/// `Command.SpawnFailed`: the program could not be started.
pub const SPAWN_FAILED: &str = "Command.SpawnFailed";
/// `Command.OutputTooLarge`: stdout is longer than the step keeps; the command was killed.
pub const OUTPUT_TOO_LARGE: &str = "Command.OutputTooLarge";

/// The default of [`CommandConfig::max_output`](CommandConfig): 16 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 16 << 20;

/// The exit code of a `Command.ExitCode.N` error.
pub fn exit_code(error: &Error) -> Option<i32> {
    error.name().strip_prefix(EXIT_CODE_PREFIX)?.parse().ok()
}

/// A program to run, with its arguments, environment and working folder: what a
/// [`CommandStep`] makes from its input. Serializable, so it can be a step's input
/// itself.
///
/// # Examples
///
/// ```
/// use waypost::tasks::Command;
///
/// let convert = Command::new("convert").args(["in.png", "out.jpg"]).current_dir("/tmp");
/// assert_eq!(convert.program(), "convert");
/// assert_eq!(Command::shell("ls | wc -l").arguments(), ["-c", "ls | wc -l"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    current_dir: Option<PathBuf>,
}

impl Command {
    /// Runs `program` (looked up in `PATH` when it has no `/`), with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
        }
    }

    /// `sh -c script`.
    pub fn shell(script: impl Into<String>) -> Self {
        Command::new("sh").arg("-c").arg(script)
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<A: Into<String>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (on top of the environment of this process).
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Runs the command in `dir` instead of this process's working folder.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The arguments.
    pub fn arguments(&self) -> &[String] {
        &self.args
    }

    /// The program and its arguments as error messages quote them, arguments with
    /// spaces or quotes in quotes, cut at about 100 characters.
    fn summary(&self) -> String {
        const LONGEST: usize = 100;
        let mut text = self.program.clone();
        for arg in &self.args {
            text.push(' ');
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"`".contains(c)) {
                text.push_str(&format!("{arg:?}"));
            } else {
                text.push_str(arg);
            }
        }
        match text.char_indices().nth(LONGEST) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }
}

/// `SIGKILL` for 9; `signal 99` for a number that names no signal.
fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned())
}

/// The settings of a [`CommandStep`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::tasks::{CommandConfig, Secret};
///
/// let config = CommandConfig::builder()
///     .timeout(Duration::from_secs(60))
///     .secret_env([("API_TOKEN", Secret::new("t-0ken"))])
///     .build();
/// assert!(!format!("{config:?}").contains("t-0ken"));
/// ```
#[derive(Clone, Debug, TypedBuilder)]
pub struct CommandConfig {
    /// The longest the command may run; default none. Past it its process group is
    /// killed and the step fails with `Command.Timeout`.
    #[builder(default, setter(strip_option))]
    timeout: Option<Duration>,
    /// How much of the end of stderr an exit's error quotes, in bytes; default 2048.
    /// Only that much of stderr is kept, however much the command prints.
    #[builder(default = 2048)]
    stderr_tail: usize,
    /// The most stdout the step keeps, in bytes; default [`DEFAULT_MAX_OUTPUT`] (16 MiB).
    /// A command that prints more is killed with its whole process group and the step
    /// fails with `Command.OutputTooLarge`, so a command that prints without end cannot
    /// exhaust memory. The output is a checkpoint too: keep it far smaller.
    #[builder(default = DEFAULT_MAX_OUTPUT)]
    max_output: usize,
    /// Environment variables whose values are [`Secret`]s (a token the program reads);
    /// default none. Set on top of the command's own [`env`](Command::env). Being part
    /// of the step, not of its input, they are never checkpointed, and a `Secret`
    /// prints as `[redacted]`: put a token here, never in the input.
    #[builder(
        default,
        setter(
            fn transform<K: Into<String>, L: IntoIterator<Item = (K, Secret)>>(vars: L) -> Vec<(String, Secret)> {
                vars.into_iter().map(|(k, v)| (k.into(), v)).collect()
            }
        )
    )]
    secret_env: Vec<(String, Secret)>,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig::builder().build()
    }
}

/// How stdout becomes the output: `(what, stdout) -> output`.
type Parse<O> = fn(&str, &[u8]) -> Result<O, Error>;

/// A step that runs a subprocess; returned by [`json`] and [`lines`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct CommandStep<I, O, F> {
    name: String,
    make: F,
    parse: Parse<O>,
    config: CommandConfig,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, F> CommandStep<I, O, F> {
    /// Uses `config` (timeout, stderr tail) instead of the defaults.
    pub fn config(mut self, config: CommandConfig) -> Self {
        self.config = config;
        self
    }
}

/// A step named `name` that runs the command `make` builds from its input and parses
/// its stdout as JSON of `O` (empty stdout as `null`). Its graph resource is
/// `waypost:command:<name>`.
pub fn json<I, O>(
    name: impl Into<String>,
    make: impl Fn(I) -> Command + Send + Sync + 'static,
) -> CommandStep<I, O, impl Fn(I) -> Command + Send + Sync + 'static>
where
    I: Payload,
    O: Payload,
{
    CommandStep {
        name: name.into(),
        make,
        parse: output::json::<O>,
        config: CommandConfig::default(),
        _types: PhantomData,
    }
}

/// A step named `name` that runs the command `make` builds from its input and returns
/// the lines of its stdout. Its graph resource is `waypost:command:<name>`.
pub fn lines<I: Payload>(
    name: impl Into<String>,
    make: impl Fn(I) -> Command + Send + Sync + 'static,
) -> CommandStep<I, Vec<String>, impl Fn(I) -> Command + Send + Sync + 'static> {
    CommandStep {
        name: name.into(),
        make,
        parse: output::lines,
        config: CommandConfig::default(),
        _types: PhantomData,
    }
}

impl<I, O: Payload, F> CommandStep<I, O, F> {
    /// Runs `command` to its end (or its timeout) and parses its stdout.
    async fn execute(&self, scx: &StepContext, command: Command) -> Result<O, Error> {
        let what = format!("command `{}`", command.summary());
        let mut process = tokio::process::Command::new(&command.program);
        process
            .args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .envs(self.config.secret_env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &command.current_dir {
            process.current_dir(dir);
        }
        let mut child = process
            .spawn()
            .map_err(|e| Error::new(SPAWN_FAILED, format!("{what} could not start: {e}")))?;
        // Armed before anything can fail or be dropped: from here on the group dies with
        // this future.
        let mut group = child.id().map(ProcessGroup::led_by);
        // ...and with this process, should it die without dropping the future.
        let _watchdog = match child.id().map(Watchdog::watch).transpose() {
            Ok(watchdog) => watchdog,
            Err(e) => {
                return Err(Error::new(
                    SPAWN_FAILED,
                    format!("{what} was not run: its watchdog (`/bin/sh`) could not start: {e}"),
                ));
            }
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let tail = self.config.stderr_tail;
        let max_output = self.config.max_output;
        let run = async {
            let wait = async {
                let status = child.wait().await.map_err(|e| {
                    Error::new(SPAWN_FAILED, format!("{what} could not be waited for: {e}"))
                });
                // What the command left behind holds its pipes open: killing it ends
                // the reads below, and nothing outlives the step.
                if let Some(group) = &mut group {
                    group.kill();
                }
                status
            };
            // Too much stdout ends the run at once, without waiting for the command: it
            // is killed when this future's guards drop.
            let stdout = read_capped(stdout, max_output, &what);
            let stderr = async { Ok(read_tail(stderr, tail).await.unwrap_or_default()) };
            futures::try_join!(wait, stdout, stderr)
        };
        let (status, stdout, stderr) = match self.config.timeout {
            None => run.await?,
            Some(limit) => match select(Box::pin(run), scx.host().sleep(limit)).await {
                Either::Left((done, _)) => done?,
                Either::Right(((), _)) => {
                    return Err(Error::new(
                        TIMEOUT,
                        format!("{what} ran longer than its timeout of {limit:?} and was killed"),
                    ));
                }
            },
        };
        let stderr = if stderr.is_empty() {
            "it printed nothing on stderr".to_owned()
        } else {
            format!(
                "the end of its stderr: {}",
                String::from_utf8_lossy(&stderr)
            )
        };
        match (status.code(), status.signal()) {
            (Some(0), _) => (self.parse)(&what, &stdout),
            (Some(code), _) => Err(Error::new(
                format!("{EXIT_CODE_PREFIX}{code}"),
                format!("{what} exited with code {code}; {stderr}"),
            )),
            (None, signal) => Err(Error::new(
                KILLED,
                format!(
                    "{what} was killed by {}; {stderr}",
                    signal_name(signal.unwrap_or_default())
                ),
            )),
        }
    }
}

/// Everything `pipe` (the stdout of `what`) gives until its end, if that is at most
/// `limit` bytes.
///
/// # Errors
///
/// `Command.OutputTooLarge` as soon as it gives more, `Command.BadOutput` when it
/// cannot be read.
async fn read_capped(
    pipe: Option<impl AsyncRead + Unpin>,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    let Some(pipe) = pipe else {
        return Ok(bytes);
    };
    // One byte past the limit tells "exactly the limit" from "more".
    let past_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    pipe.take(past_limit)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::new(BAD_OUTPUT, format!("{what}: reading stdout failed: {e}")))?;
    if bytes.len() > limit {
        return Err(Error::new(
            OUTPUT_TOO_LARGE,
            format!(
                "{what} printed more than {} on stdout, the step's limit \
                 (`CommandConfig::max_output`), and was killed",
                output::size(limit)
            ),
        ));
    }
    Ok(bytes)
}

/// The last `keep` bytes `pipe` gives until its end, reading it all (a command blocks
/// when nobody reads its stderr).
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, keep: usize) -> std::io::Result<Vec<u8>> {
    let mut tail = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(tail);
    };
    let mut buffer = [0u8; 8192];
    loop {
        let read = pipe.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        tail.extend_from_slice(&buffer[..read]);
        if tail.len() > keep.saturating_mul(2).max(buffer.len()) {
            tail.drain(..tail.len() - keep);
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    Ok(tail)
}

impl<I, O, F> Step for CommandStep<I, O, F>
where
    I: Payload,
    O: Payload,
    F: Fn(I) -> Command + Send + Sync + 'static,
{
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: I) -> Result<O, Error> {
        run_task(cx, &self.name, input, |scx, input| async move {
            let command = (self.make)(input);
            self.execute(&scx, command).await
        })
        .await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Task, &self.name)
            .detail(RESOURCE, format!("waypost:command:{}", self.name));
    }
}

impl<I, O, F> fmt::Debug for CommandStep<I, O, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandStep")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("make", &std::any::type_name::<F>())
            .finish()
    }
}
