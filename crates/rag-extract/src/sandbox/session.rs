//! The parent's side of one worker: the child process, what is sent to it,
//! and its answers awaited with a time limit, after which it is killed.

use std::io::{self, BufWriter};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::wire::{read_frame, write_frame, Frame, Reply};
use super::WorkerProgram;

/// Why a worker gave no answer.
#[derive(Debug)]
pub(crate) enum Lost {
    /// It was still working when its time was up, and was killed.
    TimedOut,
    /// It died: a crash in native code (a signal), out of memory (killed),
    /// or an exit without an answer.
    Died(String),
    /// It could not be started, or spoke nonsense.
    Broken(String),
}

/// A running worker.
pub(crate) struct Session {
    child: Child,
    input: Option<BufWriter<ChildStdin>>,
    replies: Receiver<io::Result<Option<Frame>>>,
    reader: Option<JoinHandle<()>>,
}

impl Session {
    /// Starts the worker program.
    pub(crate) fn start(program: &WorkerProgram) -> Result<Self, Lost> {
        let mut command = Command::new(&program.path);
        command
            .args(&program.args)
            .env(super::WORKER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its logs join the parent's.
            .stderr(Stdio::inherit());
        if let Some(limit) = program.memory_limit_bytes {
            command.env(super::MEMORY_LIMIT_ENV, limit.to_string());
        }
        let mut child = command
            .spawn()
            .map_err(|e| Lost::Broken(format!("{}: {e}", program.path.display())))?;
        let (input, output) = match (child.stdin.take(), child.stdout.take()) {
            (Some(input), Some(output)) => (input, output),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Lost::Broken("the worker's pipes were not opened".into()));
            }
        };
        let (sender, replies) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name("rag-extract-worker-reader".into())
            .spawn(move || {
                let mut output = io::BufReader::new(output);
                loop {
                    let frame = read_frame(&mut output);
                    let last = !matches!(frame, Ok(Some(_)));
                    if sender.send(frame).is_err() || last {
                        break;
                    }
                }
            })
            .map_err(|e| Lost::Broken(format!("no thread to read the worker: {e}")))?;
        Ok(Self {
            child,
            input: Some(BufWriter::new(input)),
            replies,
            reader: Some(reader),
        })
    }

    /// Sends `request` with `payload` and waits up to `limit` for the reply.
    /// Any failure leaves the worker dead.
    pub(crate) fn call(
        &mut self,
        request: &(impl Serialize + Sync),
        payload: &[u8],
        limit: Duration,
    ) -> Result<(Reply, Vec<u8>), Lost> {
        // Written from a thread of its own: a worker that stops reading
        // (hung before it took the whole document) is killed in time too.
        let Some(input) = self.input.as_mut() else {
            return Err(self.died());
        };
        let child = &mut self.child;
        let sent = std::thread::scope(|scope| {
            let (done, wrote) = mpsc::channel();
            scope.spawn(move || {
                let _ = done.send(write_frame(input, request, payload));
            });
            match wrote.recv_timeout(limit) {
                Ok(result) => result.map_err(|_| false),
                Err(_) => {
                    // Its pipe breaks, and the writer returns.
                    let _ = child.kill();
                    Err(true)
                }
            }
        });
        match sent {
            Ok(()) => {}
            Err(true) => {
                self.kill();
                return Err(Lost::TimedOut);
            }
            // It died before (or while) reading the request.
            Err(false) => return Err(self.died()),
        }
        match self.replies.recv_timeout(limit) {
            Ok(Ok(Some(frame))) => match serde_json::from_slice(&frame.header) {
                Ok(reply) => Ok((reply, frame.payload)),
                Err(e) => {
                    self.kill();
                    Err(Lost::Broken(format!("an unreadable reply: {e}")))
                }
            },
            Ok(Ok(None) | Err(_)) | Err(RecvTimeoutError::Disconnected) => Err(self.died()),
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(Lost::TimedOut)
            }
        }
    }

    /// What became of a worker that stopped answering.
    fn died(&mut self) -> Lost {
        self.input = None;
        let status = self.child.wait();
        self.join_reader();
        match status {
            Ok(status) => Lost::Died(describe(status)),
            Err(e) => Lost::Died(format!("its exit could not be read: {e}")),
        }
    }

    /// Ends the worker now.
    pub(crate) fn kill(&mut self) {
        self.input = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_reader();
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Session {
    /// A worker outlives no session: closing its input ends it, and a kill
    /// makes sure.
    fn drop(&mut self) {
        self.input = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.join_reader();
    }
}

/// How a worker's exit reads in a message.
fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGSEGV => "a segmentation fault",
                libc::SIGABRT => "an abort",
                libc::SIGBUS => "a bus error",
                libc::SIGILL => "an illegal instruction",
                libc::SIGFPE => "an arithmetic fault",
                // What the kernel's out-of-memory killer sends.
                libc::SIGKILL => "a kill (out of memory?)",
                _ => "a signal",
            };
            return format!("{name} (signal {signal})");
        }
    }
    match status.code() {
        Some(code) => format!("an exit with code {code} and no answer"),
        None => "an exit with no answer".to_owned(),
    }
}
