//! Re-encoding and checking a conversion's chunks on worker threads, handed back in the order
//! they were given: a chunk is [`CHUNK_VALUES`] values of one tensor (whole rows), encoded a
//! step of [`encode::STEP_VALUES`] at a time into a buffer of its own. Where no thread can be
//! started (`wasm32-wasip1`), each chunk is encoded when its result is asked for.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

use crate::format::TernaryFormat;
use crate::model::TernaryTensor;

use super::scales::TargetScales;
use super::{check, encode};

/// Values per chunk: 1 Mi (a quarter to a third of a MiB of output), so that a tensor of the
/// usual sizes is several chunks and the threads share it, and a chunk's handing over (two
/// channel messages) costs little beside its encoding.
pub(super) const CHUNK_VALUES: usize = 1 << 20;

/// The most worker threads: more than the output's one writing thread can keep up with.
const MAX_WORKERS: usize = 4;

/// The workers a conversion of `chunks` chunks wants: one per processor the system offers, at
/// most [`MAX_WORKERS`] and one per chunk.
pub(super) fn wanted(chunks: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS)
        .min(chunks)
}

/// Chunks given out per worker and not yet handed back: one being encoded, one waiting.
const AHEAD: usize = 2;

/// One chunk to encode: rows `rows` of `source` (the whole tensor) into the target.
#[derive(Debug, Clone)]
pub(super) struct Job<'m, 'p> {
    pub source: TernaryTensor<'m>,
    pub scales: &'p TargetScales,
    pub rows: Range<usize>,
}

/// Why a chunk cannot be converted exactly.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Refusal {
    /// A code is the reserved 3 (the caller counts them in the whole tensor).
    Reserved,
    /// Anything else, said in full.
    Reason(String),
}

/// A chunk encoded: its target bytes (`out[..len]`), or why it cannot be.
#[derive(Debug)]
pub(super) struct Done {
    pub out: Vec<u8>,
    pub len: usize,
    pub result: Result<(), Refusal>,
    /// The most bytes a step of it held in its worker's scratch.
    step_bytes: usize,
}

impl Done {
    /// The chunk's target bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.out[..self.len]
    }
}

/// The buffers one worker reuses from step to step and chunk to chunk: a step's codes on each
/// side and its target block scales.
#[derive(Debug, Default)]
struct Scratch {
    source: Vec<u8>,
    converted: Vec<u8>,
    d: Vec<half::f16>,
}

impl Scratch {
    /// The bytes the last step used: both sides' codes and the block scales.
    fn step_bytes(&self) -> usize {
        self.source.len() + self.converted.len() + 2 * self.d.len()
    }
}

/// Encodes `job`'s rows into `out` from its start (a buffer reused as it is: only a shorter one
/// grows), a step at a time, each step checked.
fn encode_chunk(
    target: TernaryFormat,
    job: &Job<'_, '_>,
    scratch: &mut Scratch,
    out: Vec<u8>,
) -> Done {
    let mut done = Done {
        out,
        len: 0,
        result: Ok(()),
        step_bytes: 0,
    };
    done.result = encode::wide(
        #[inline(always)]
        || encode_steps(target, job, scratch, &mut done),
    );
    done
}

/// [`encode_chunk`]'s steps, into `done`.
#[inline(always)]
fn encode_steps(
    target: TernaryFormat,
    job: &Job<'_, '_>,
    scratch: &mut Scratch,
    done: &mut Done,
) -> Result<(), Refusal> {
    let source = &job.source;
    let step_rows = encode::STEP_VALUES
        .checked_div(source.cols)
        .unwrap_or(1)
        .max(1);
    for first in job.rows.clone().step_by(step_rows) {
        let part = encode::rows_of(source, first..(first + step_rows).min(job.rows.end));
        job.scales
            .check_rows(&part, first, target)
            .map_err(Refusal::Reason)?;
        encode::codes(&part, &mut scratch.source);
        if encode::has_reserved(&scratch.source) {
            return Err(Refusal::Reserved);
        }
        let at = done.len;
        done.len = encode::encode_rows(
            &part,
            target,
            job.scales,
            &scratch.source,
            &mut scratch.d,
            (&mut done.out, at),
        );
        let converted = encode::view(&part, target, &done.out[at..done.len], job.scales);
        check::same_values(
            &part,
            &converted,
            first,
            &scratch.source,
            &mut scratch.converted,
        )
        .map_err(|e| Refusal::Reason(format!("the check found {e}")))?;
        done.step_bytes = done.step_bytes.max(scratch.step_bytes());
    }
    Ok(())
}

/// A worker thread's two ends: chunks to it, results back.
#[derive(Debug)]
struct Lane<'m, 'p> {
    jobs: SyncSender<(Job<'m, 'p>, Vec<u8>)>,
    done: Receiver<Done>,
}

/// The workers of one conversion, and the chunks given to them and not yet handed back.
#[derive(Debug)]
pub(super) struct Workers<'m, 'p> {
    target: TernaryFormat,
    lanes: Vec<Lane<'m, 'p>>,
    /// Chunks given out so far, and handed back.
    given: usize,
    taken: usize,
    /// Without threads: the chunks given and not yet encoded, and the one scratch.
    pending: VecDeque<Job<'m, 'p>>,
    scratch: Scratch,
    /// Emptied buffers of chunks handed back and written.
    free: Vec<Vec<u8>>,
    /// The most bytes a step held in a worker's scratch, and a chunk's target bytes.
    step_bytes: usize,
    chunk_bytes: usize,
}

impl<'m, 'p> Workers<'m, 'p> {
    /// Up to `wanted` workers for a conversion to `target` in `scope`; fewer (none) where no
    /// more threads can be started.
    pub(super) fn new<'s>(scope: &'s Scope<'s, '_>, target: TernaryFormat, wanted: usize) -> Self
    where
        'm: 's,
        'p: 's,
    {
        let mut lanes = Vec::new();
        for i in 0..wanted {
            let (jobs, queue) = sync_channel::<(Job<'m, 'p>, Vec<u8>)>(AHEAD);
            let (send_done, done) = sync_channel::<Done>(AHEAD);
            let spawned = std::thread::Builder::new()
                .name(format!("convert-{i}"))
                .spawn_scoped(scope, move || {
                    let mut scratch = Scratch::default();
                    for (job, out) in queue {
                        if send_done
                            .send(encode_chunk(target, &job, &mut scratch, out))
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            if spawned.is_err() {
                break;
            }
            lanes.push(Lane { jobs, done });
        }
        Workers {
            target,
            lanes,
            given: 0,
            taken: 0,
            pending: VecDeque::new(),
            scratch: Scratch::default(),
            free: Vec::new(),
            step_bytes: 0,
            chunk_bytes: 0,
        }
    }

    /// Whether another chunk may be given before one is taken back.
    pub(super) fn has_room(&self) -> bool {
        self.given - self.taken < AHEAD * self.lanes.len().max(1)
    }

    /// Gives the next of `jobs` while there is room.
    pub(super) fn give_from(&mut self, jobs: &mut impl Iterator<Item = Job<'m, 'p>>) {
        while self.has_room() {
            let Some(job) = jobs.next() else { break };
            self.give(job);
        }
    }

    /// Gives `job` to the next worker in turn (round robin, so results come back in order).
    pub(super) fn give(&mut self, job: Job<'m, 'p>) {
        let out = self.free.pop().unwrap_or_default();
        match self.lanes.len() {
            0 => {
                self.free.push(out);
                self.pending.push_back(job);
            }
            n => {
                // A worker only goes away by panicking, which the scope passes on when it ends.
                let _ = self.lanes[self.given % n].jobs.send((job, out));
            }
        }
        self.given += 1;
    }

    /// The next chunk given, encoded; `None` when every chunk given was taken back (or a
    /// worker panicked).
    pub(super) fn take(&mut self) -> Option<Done> {
        if self.taken == self.given {
            return None;
        }
        let lane = self.taken % self.lanes.len().max(1);
        self.taken += 1;
        let done = match self.lanes.get(lane) {
            Some(l) => l.done.recv().ok()?,
            // No threads: encode it now.
            None => {
                let job = self.pending.pop_front()?;
                let out = self.free.pop().unwrap_or_default();
                encode_chunk(self.target, &job, &mut self.scratch, out)
            }
        };
        self.step_bytes = self.step_bytes.max(done.step_bytes);
        self.chunk_bytes = self.chunk_bytes.max(done.len);
        Some(done)
    }

    /// The worker threads (0 where none could be started: chunks are encoded in the caller's).
    pub(super) fn threads(&self) -> usize {
        self.lanes.len()
    }

    /// Hands back a chunk's buffer once written, for the next chunk.
    pub(super) fn recycle(&mut self, out: Vec<u8>) {
        self.free.push(out);
    }

    /// The bytes the buffers can hold at once: each worker's scratch at the largest step, and
    /// [`AHEAD`] chunks per worker at the largest chunk (one worker's worth without threads).
    pub(super) fn buffer_bytes(&self) -> usize {
        let workers = self.lanes.len().max(1);
        workers * (self.step_bytes + AHEAD * self.chunk_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_chunk, wanted, Job, Refusal, Scratch, Workers, AHEAD, MAX_WORKERS};
    use crate::convert::check::tests::tensor as packed;
    use crate::convert::scales::target_scales;
    use crate::format::TernaryFormat;
    use crate::model::TernaryTensor;

    /// A QK256 tensor of `rows` rows of 512 columns holding seeded codes 0–2, with a 3 at
    /// `reserved` (row-major) when given.
    fn tensor(rows: usize, reserved: Option<usize>) -> TernaryTensor<'static> {
        let cols = 512;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut codes: Vec<u8> = (0..rows * cols)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 3) as u8
            })
            .collect();
        if let Some(at) = reserved {
            codes[at] = 3;
        }
        let t = packed(
            TernaryFormat::Qk256,
            &codes,
            (rows, cols),
            &|_, _| 0.5,
            None,
        );
        assert_eq!(t.scale, 0.5);
        t
    }

    /// The rows of `t` in chunks of `step` rows.
    fn jobs<'m, 'p>(
        t: TernaryTensor<'m>,
        scales: &'p crate::convert::scales::TargetScales,
        step: usize,
    ) -> Vec<Job<'m, 'p>> {
        (0..t.rows)
            .step_by(step)
            .map(|first| Job {
                source: t,
                scales,
                rows: first..(first + step).min(t.rows),
            })
            .collect()
    }

    /// Every chunk's result through `threads` workers, in the order given: as many given ahead
    /// as there is room for, as `Plan::write` does.
    fn through(
        threads: usize,
        target: TernaryFormat,
        jobs: &[Job<'_, '_>],
    ) -> (usize, Vec<Result<Vec<u8>, Refusal>>) {
        std::thread::scope(|scope| {
            let mut workers = Workers::new(scope, target, threads);
            let mut given = jobs.iter().cloned();
            let mut results = Vec::new();
            let room = AHEAD * workers.threads().max(1);
            for (i, _) in jobs.iter().enumerate() {
                workers.give_from(&mut given);
                // As many out as there is room for (or chunks left).
                assert_eq!(workers.given - workers.taken, room.min(jobs.len() - i));
                let done = workers.take().unwrap();
                results.push(done.result.clone().map(|()| done.bytes().to_vec()));
                workers.recycle(done.out);
            }
            assert!(workers.take().is_none());
            (workers.threads(), results)
        })
    }

    /// Whether this target starts threads at all (wasm32-wasip1 does not: every conversion
    /// there runs inline).
    fn threads_start() -> bool {
        std::thread::Builder::new()
            .spawn(|| ())
            .is_ok_and(|h| h.join().is_ok())
    }

    #[test]
    fn a_worker_per_processor_at_most_four_and_one_per_chunk() {
        let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(wanted(0), 0);
        assert_eq!(wanted(1), 1);
        assert_eq!(wanted(1000), processors.min(4));
        assert_eq!(MAX_WORKERS, 4);
        assert_eq!(wanted(3), processors.min(3));
    }

    /// A buffer handed back is the next chunk's.
    #[test]
    fn buffers_are_reused() {
        let t = tensor(12, None);
        let target = TernaryFormat::Tq1_0;
        let scales = target_scales(&t, target, false).unwrap();
        let jobs = jobs(t, &scales, 4);
        for threads in [0, 1] {
            std::thread::scope(|scope| {
                let mut workers = Workers::new(scope, target, threads);
                let mut seen = Vec::new();
                for job in &jobs {
                    workers.give(job.clone());
                    let done = workers.take().unwrap();
                    seen.push(done.out.as_ptr());
                    workers.recycle(done.out);
                    // Kept for the next chunk.
                    assert_eq!(workers.free.len(), 1);
                    assert_eq!(workers.free[0].as_ptr(), *seen.last().unwrap());
                }
                assert!(seen.windows(2).all(|w| w[0] == w[1]), "{threads}: {seen:?}");
            });
        }
    }

    #[test]
    fn chunks_come_back_in_order_with_or_without_threads() {
        let t = tensor(37, None);
        let can_start = threads_start();
        for target in TernaryFormat::ALL {
            let scales = target_scales(&t, target, false).unwrap();
            // The whole tensor as one chunk, into a new buffer.
            let whole = Job {
                source: t,
                scales: &scales,
                rows: 0..t.rows,
            };
            let want = encode_chunk(target, &whole, &mut Scratch::default(), Vec::new());
            assert_eq!(want.result, Ok(()), "{target}");
            assert_eq!(
                want.len as u64,
                target.data_bytes(37, 512).unwrap(),
                "{target}"
            );
            // Chunks of 5 rows (the last 2), more than the workers have room for at once.
            let jobs = jobs(t, &scales, 5);
            assert!(jobs.len() > 3 * AHEAD);
            for threads in [0, 1, 3] {
                let (started, results) = through(threads, target, &jobs);
                let expect = if can_start { threads } else { 0 };
                assert_eq!(started, expect, "{target}");
                let bytes: Vec<u8> = results.into_iter().flat_map(|r| r.unwrap()).collect();
                assert!(bytes == want.bytes(), "{target}, {threads} thread(s)");
            }
        }
    }

    /// A reused buffer is written over as it is: whatever it held, the bytes are the same.
    #[test]
    fn a_reused_buffer_gives_the_same_bytes() {
        let t = tensor(9, None);
        for target in TernaryFormat::ALL {
            let scales = target_scales(&t, target, false).unwrap();
            let job = Job {
                source: t,
                scales: &scales,
                rows: 2..9,
            };
            let fresh = encode_chunk(target, &job, &mut Scratch::default(), Vec::new());
            for fill in [0x00, 0x55, 0xAA, 0xFF] {
                for extra in [0, 1, 4096] {
                    let old = vec![fill; fresh.len + extra];
                    let again = encode_chunk(target, &job, &mut Scratch::default(), old);
                    assert_eq!(again.len, fresh.len);
                    assert!(
                        again.bytes() == fresh.bytes(),
                        "{target} {fill:#x} +{extra}"
                    );
                }
            }
        }
    }

    /// A refused chunk comes back in its place, the chunks before it converted.
    #[test]
    fn a_refusal_comes_back_in_its_place() {
        // Row 13 holds a 3: the third chunk of 5 rows.
        let t = tensor(20, Some(13 * 512 + 7));
        let target = TernaryFormat::Tq2_0;
        let scales = target_scales(&t, target, false).unwrap();
        let jobs = jobs(t, &scales, 5);
        for threads in [0, 2] {
            let (_, results) = through(threads, target, &jobs);
            let refused: Vec<bool> = results.iter().map(Result::is_err).collect();
            assert_eq!(refused, [false, false, true, false], "{threads}");
            assert_eq!(results[2], Err(Refusal::Reserved));
        }
    }
}
