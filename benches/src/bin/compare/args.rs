//! Command-line arguments: the groups of rows (`--only`) and the rounds.

/// Rounds by default; odd, so the median is a real sample.
pub(super) const DEFAULT_ROUNDS: usize = 7;
/// Rounds with `--quick`.
pub(super) const QUICK_ROUNDS: usize = 3;
/// Upper bound accepted for `--rounds`.
pub(super) const MAX_ROUNDS: usize = 101;

/// The groups of rows; `--only` picks some (for investigating one group;
/// `results/latest.md` is only written by a run of all of them).
#[derive(Clone, Copy)]
pub(super) struct Groups {
    pub(super) scheduler: bool,
    pub(super) timers: bool,
    pub(super) blocking: bool,
    pub(super) net: bool,
    pub(super) current_thread: bool,
    pub(super) stall: bool,
    pub(super) cpu: bool,
    pub(super) fs: bool,
}

impl Groups {
    const ALL: Groups = Groups {
        scheduler: true,
        timers: true,
        blocking: true,
        net: true,
        current_thread: true,
        stall: true,
        cpu: true,
        fs: true,
    };
    const NAMES: &'static str = "scheduler, timers, blocking, net, current_thread, stall, cpu, fs";

    pub(super) fn parse(list: &str) -> Result<Groups, String> {
        let mut groups = Groups {
            scheduler: false,
            timers: false,
            blocking: false,
            net: false,
            current_thread: false,
            stall: false,
            cpu: false,
            fs: false,
        };
        for name in list.split(',') {
            match name.trim() {
                "scheduler" => groups.scheduler = true,
                "timers" => groups.timers = true,
                "blocking" => groups.blocking = true,
                "net" => groups.net = true,
                "current_thread" => groups.current_thread = true,
                "stall" => groups.stall = true,
                "cpu" => groups.cpu = true,
                "fs" => groups.fs = true,
                other => {
                    return Err(format!("unknown group {other:?} (groups: {})", Groups::NAMES))
                }
            }
        }
        Ok(groups)
    }

    pub(super) fn all(self) -> bool {
        self.scheduler
            && self.timers
            && self.blocking
            && self.net
            && self.current_thread
            && self.stall
            && self.cpu
    }
}

pub(super) struct Options {
    pub(super) rounds: usize,
    pub(super) groups: Groups,
    /// Open-file soft limit after raising it to the hard limit.
    pub(super) fd_limit: u64,
}

pub(super) fn parse_args() -> Result<Options, String> {
    let mut rounds = DEFAULT_ROUNDS;
    let mut groups = Groups::ALL;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => rounds = QUICK_ROUNDS,
            "--rounds" => {
                let n = args.next().ok_or("--rounds needs a value")?;
                rounds = n
                    .parse()
                    .ok()
                    .filter(|r| (1..=MAX_ROUNDS).contains(r))
                    .ok_or_else(|| format!("--rounds takes 1..={MAX_ROUNDS}, got {n:?}"))?;
            }
            "--only" => {
                groups = Groups::parse(&args.next().ok_or("--only needs a list of groups")?)?;
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: compare [--quick] [--rounds N] [--only GROUP,...] (groups: {})",
                    Groups::NAMES
                ));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let fd_limit = weft_dev_support::raise_fd_limit()
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    Ok(Options { rounds, groups, fd_limit })
}
