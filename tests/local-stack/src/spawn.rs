//! Starting child processes that die with the test process.
//!
//! Linux delivers `PR_SET_PDEATHSIG` when the *thread* that forked the child exits, not the process. A
//! child forked from a test thread or a tokio worker would be killed as soon as that thread ends, and a
//! child forked from a thread that lives forever dies only with the process. So every child is forked from
//! one dedicated spawner thread that never exits, with `PR_SET_PDEATHSIG(SIGKILL)` set between fork and
//! exec.

use std::io;
use std::sync::{OnceLock, mpsc};

use anyhow::{Context as _, Result, anyhow};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The job queue of the spawner thread. Not state: a handle on the thread that parents every child, which
/// must live as long as the process (started on first use; the thread blocks on this queue forever).
static SPAWNER: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();

fn submit(job: Job) -> Result<()> {
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("local-stack-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop never ends and the thread never exits.
                for job in rx {
                    job();
                }
                loop {
                    std::thread::park();
                }
            })
            .map(|_| tx)
            .map_err(|e| format!("cannot start the process spawner thread: {e}"))
    });
    let tx = spawner.as_ref().map_err(|e| anyhow!("{e}"))?;
    tx.send(job).map_err(|_| anyhow!("the process spawner thread is gone"))
}

/// Makes the child receive SIGKILL when its parent thread (the spawner thread, so the process) dies.
fn die_with_parent() -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    let parent = std::process::id();
    move || {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl and getppid are async-signal-safe and nothing here allocates, as required
        // between fork and exec.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would ever kill this child.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = parent;
        Ok(())
    }
}

/// Spawns a blocking [`std::process::Command`] from the spawner thread.
pub(crate) fn spawn_std(mut command: std::process::Command) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the hook only calls async-signal-safe functions (see `die_with_parent`).
    unsafe {
        command.pre_exec(die_with_parent());
    }
    let (tx, rx) = mpsc::sync_channel(1);
    submit(Box::new(move || {
        let _ = tx.send(command.spawn());
    }))?;
    let child = rx.recv().context("the process spawner thread dropped the request")?;
    Ok(child?)
}

/// Spawns a [`tokio::process::Command`] from the spawner thread, registered with the current runtime.
pub(crate) async fn spawn_tokio(mut command: tokio::process::Command) -> Result<tokio::process::Child> {
    let handle = tokio::runtime::Handle::try_current().context("spawning a child process needs a tokio runtime")?;
    // SAFETY: the hook only calls async-signal-safe functions (see `die_with_parent`).
    unsafe {
        command.pre_exec(die_with_parent());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    submit(Box::new(move || {
        let _runtime = handle.enter();
        let _ = tx.send(command.spawn());
    }))?;
    let child = rx.await.context("the process spawner thread dropped the request")?;
    Ok(child?)
}
