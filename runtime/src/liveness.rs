//! Who runs where, and whether they are still alive: the lease owners this runtime
//! writes, and the local process check that lets a restart take over at once from an
//! owner that was killed.
//!
//! An owner is `"{machine}:{pid}+{start}:{nonce}"`: the machine (hostname and pid
//! namespace), the process id and its start time in clock ticks since boot (so that a
//! reused pid is not taken for the dead process), and a nonce per run (so that one
//! run's late release can never drop another run's lease). Owners in the older
//! `"{machine}:{pid}:{nonce}"` form are still read.
//!
//! The check only ever *shortens* a wait: when it cannot tell (another machine, a pid
//! namespace it cannot see into, no `/proc`), the owner counts as alive and its lease
//! runs out on its own.

use std::path::Path;
use std::sync::OnceLock;

/// The inode of the initial pid namespace, which the kernel gives a fixed number
/// (`PROC_PID_INIT_INO`). From it, every process of the machine is visible in `/proc`.
const INITIAL_PID_NAMESPACE: &str = "4026531836";

/// This process as lease owners name it: `"{machine}:{pid}+{start}"` (the runtime adds
/// a nonce per run).
pub(crate) fn process_id() -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(start) => format!("{}:{pid}+{start}", machine()),
        None => format!("{}:{pid}", machine()),
    }
}

/// Whether the process named by a lease owner is known to be gone: it ran on this
/// machine (see [`machine`]) and its process no longer exists, is a zombie (killed,
/// waiting for its parent to reap it), or is another process that reuses its pid. Also
/// dead: an owner from a pid namespace of this host that no longer exists, when this
/// process can see every namespace (it runs in the initial one).
///
/// `false` whenever it cannot tell.
pub(crate) fn owner_is_dead(owner: &str) -> bool {
    let Some(owner) = Owner::parse(owner) else {
        return false;
    };
    // Without a working /proc, a missing /proc/{pid} would prove nothing.
    if !Path::new("/proc/self/stat").exists() {
        return false;
    }
    if owner.machine != machine() {
        return owner_namespace_is_gone(owner.machine);
    }
    if owner.pid == std::process::id() {
        // This very process, or an earlier one with the same pid in a namespace whose
        // inode was reused: only a start time can tell them apart.
        return owner
            .start
            .is_some_and(|start| Some(start) != start_time(owner.pid));
    }
    match process_state(owner.pid) {
        None => true,
        Some(ProcessState { zombie: true, .. }) => true,
        Some(ProcessState { start, .. }) => owner.start.is_some_and(|s| s != start),
    }
}

/// Where this process runs, as lease owners name it: the hostname, then `/` and the
/// inode of its pid namespace when `/proc` shows it (`web-1/4026531836`). Pids are only
/// comparable between processes with the same machine.
pub(crate) fn machine() -> &'static str {
    static MACHINE: OnceLock<String> = OnceLock::new();
    MACHINE.get_or_init(|| match pid_namespace("self") {
        Some(ns) => format!("{}/{ns}", hostname()),
        None => hostname().to_owned(),
    })
}

/// This machine's hostname: the kernel's `/proc/sys/kernel/hostname`, else the
/// `HOSTNAME` environment variable, else `localhost` (then no owner of another machine
/// is ever taken for dead, because without `/proc` nothing is).
pub(crate) fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}

/// A lease owner, read back.
#[derive(Debug, PartialEq, Eq)]
struct Owner<'a> {
    machine: &'a str,
    pid: u32,
    start: Option<u64>,
}

impl<'a> Owner<'a> {
    fn parse(owner: &'a str) -> Option<Self> {
        let mut parts = owner.splitn(3, ':');
        let (machine, process, _nonce) = (parts.next()?, parts.next()?, parts.next()?);
        let (pid, start) = match process.split_once('+') {
            Some((pid, start)) => (pid, Some(start.parse().ok()?)),
            None => (process, None),
        };
        Some(Owner {
            machine,
            pid: pid.parse().ok()?,
            start,
        })
    }
}

/// Whether `machine` names this host in a pid namespace that no longer exists. Only
/// decidable from the initial pid namespace, which sees every process: a namespace
/// that no process is in is gone (its init died, and every process with it).
fn owner_namespace_is_gone(machine: &str) -> bool {
    let Some((host, namespace)) = machine.rsplit_once('/') else {
        return false;
    };
    if host != hostname() || pid_namespace("self").as_deref() != Some(INITIAL_PID_NAMESPACE) {
        return false;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    let mut seen_any = false;
    for entry in processes.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        match pid_namespace(pid) {
            Some(ns) if ns == namespace => return false,
            Some(_) => seen_any = true,
            // A process that exited meanwhile, or one this user may not inspect.
            None => {}
        }
    }
    // Could not read any process's namespace: proves nothing.
    seen_any
}

/// The digits of `/proc/{pid}/ns/pid` (`pid:[4026531836]`).
fn pid_namespace(pid: &str) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    let digits: String = link
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// What `/proc/{pid}/stat` says of a process.
#[derive(Debug, PartialEq, Eq)]
struct ProcessState {
    /// Exited and not yet reaped (`Z`), or being torn down (`X`).
    zombie: bool,
    /// Its start time, in clock ticks after boot.
    start: u64,
}

fn process_state(pid: u32) -> Option<ProcessState> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn start_time(pid: u32) -> Option<u64> {
    process_state(pid).map(|state| state.start)
}

/// Reads `pid (comm) state ppid … starttime …`; `comm` may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<ProcessState> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    // `starttime` is field 22 of the line; `state` was field 3.
    let start = fields.nth(18)?.parse().ok()?;
    Some(ProcessState {
        zombie: matches!(state, "Z" | "X" | "x"),
        start,
    })
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    /// The owner string of process `pid` as the runtime would write it.
    fn owner_of(pid: u32) -> String {
        let start = start_time(pid).expect("a live child has a start time");
        format!("{}:{pid}+{start}:nonce", machine())
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_named_with_its_machine_pid_and_start_time() {
        assert!(!hostname().is_empty());
        let me = format!("{}:x", process_id());
        let owner = Owner::parse(&me).unwrap();
        assert_eq!(owner.machine, machine());
        assert_eq!(owner.pid, std::process::id());
        assert_eq!(owner.start, start_time(std::process::id()));
        assert!(owner.start.is_some());
        assert!(!owner_is_dead(&me));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_missing_pid_on_this_machine_is_dead() {
        // Above any pid_max: no such process.
        assert!(owner_is_dead(&format!("{}:999999999:x", machine())));
        assert!(owner_is_dead(&format!("{}:999999999+5:x", machine())));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_zombie_is_dead_and_a_live_child_is_not() {
        let mut child = Command::new("sleep")
            .arg("60")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let owner = owner_of(child.id());
        assert!(!owner_is_dead(&owner), "a sleeping child is alive");
        child.kill().unwrap();
        // Not reaped yet: the child stays a zombie until `wait`.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_state(child.id()).is_some_and(|s| !s.zombie) {
            assert!(
                Instant::now() < deadline,
                "the killed child never became a zombie"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(process_state(child.id()).unwrap().zombie);
        assert!(owner_is_dead(&owner), "a zombie counts as dead");
        child.wait().unwrap();
        assert!(owner_is_dead(&owner), "a reaped process is dead");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_reused_pid_is_told_apart_by_its_start_time() {
        let child = std::process::id();
        let start = start_time(child).unwrap();
        // The same pid with another start time is an earlier process that had it.
        assert!(owner_is_dead(&format!(
            "{}:{child}+{}:x",
            machine(),
            start + 1
        )));
        assert!(!owner_is_dead(&format!("{}:{child}+{start}:x", machine())));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_pid_namespace_that_no_process_is_in_is_gone_when_every_process_is_visible() {
        let me = pid_namespace("self").unwrap();
        // 1 is never the inode of a pid namespace.
        let gone = format!("{}/1:999999999:x", hostname());
        let from_initial = me == INITIAL_PID_NAMESPACE;
        assert_eq!(owner_is_dead(&gone), from_initial);
        // A live namespace (our own, seen as another machine string) proves nothing.
        assert!(!owner_namespace_is_gone(&format!("{}/{me}", hostname())));
    }

    #[test]
    fn unknown_owners_are_alive() {
        assert!(!owner_is_dead("another-host.invalid:999999999:x"));
        assert!(!owner_is_dead("another-host.invalid/1:999999999:x"));
        assert!(!owner_is_dead("no-colons"));
        assert!(!owner_is_dead("host:not-a-pid:x"));
        assert!(!owner_is_dead("host:12+not-a-time:x"));
        assert!(!owner_is_dead("host:999999999"));
    }

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let line = "42 (a ) b (c)) Z 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcessState {
                zombie: true,
                start: 777
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }
}
