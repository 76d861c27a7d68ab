//! Snapshots of the read models: written section by section with a digest each, read back the
//! same way (decisions 13 and 14), so that a start replays only the events after the last one.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use ygor_store::{EventLog, StoreError};

use crate::runner::projections_position;
use crate::{ProjectionError, ReadModels, SNAPSHOT_FORMAT, SNAPSHOT_NAME};

/// The body of a snapshot: the read models one after the other, each a section of its own, its
/// length (a postcard varint), its postcard encoding, then the SHA-256 of that encoding (so that a
/// body changed in storage is refused rather than read as other models). Written section by section and read back
/// the same way (decision 14): a start never holds the whole body (≈ 55 MB at a million events)
/// beside the read models, only the largest section and one part.
macro_rules! snapshot_sections {
    ($($field:ident),* $(,)?) => {
        /// How many sections a snapshot has.
        pub(crate) const SECTIONS: usize = [$(stringify!($field)),*].len();

        /// Writes section `index` of the snapshot of `models` to `out`; `None` past the last.
        fn write_section(
            models: &ReadModels,
            index: usize,
            out: &mut dyn std::io::Write,
        ) -> Option<Result<(), ProjectionError>> {
            let sections: [&dyn Fn(&mut dyn std::io::Write) -> Result<(), ProjectionError>; SECTIONS] =
                [$(&|out| encode_section(&models.$field, out)),*];
            sections.get(index).map(|section| section(out))
        }

        /// The read models, section after section, each checked when `check` is set.
        async fn read_sections(sections: &mut SectionReader, check: bool) -> Result<ReadModels, ProjectionError> {
            // Fields are evaluated in the order written, which is the sections' order.
            Ok(ReadModels { $($field: sections.next(stringify!($field), check).await?),* })
        }
    };
}

snapshot_sections!(
    position, books, rules, partners, wallets, profiles, missions, venues, offers, expiries, audit, draws, directory,
    draws_won
);

/// One section: its length, its encoding, its digest, written to `out` as they are produced (the
/// encoding is sized first, in a pass that allocates nothing).
fn encode_section<T: Serialize>(value: &T, out: &mut dyn std::io::Write) -> Result<(), ProjectionError> {
    use sha2::Digest as _;
    /// Hashes and counts what it passes on.
    struct Hashing<'a> {
        out: &'a mut dyn std::io::Write,
        digest: sha2::Sha256,
        len: usize,
    }
    impl std::io::Write for Hashing<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let written = self.out.write(bytes)?;
            self.digest.update(&bytes[..written]);
            self.len += written;
            Ok(written)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }
    let failed = |error: &dyn std::fmt::Display| ProjectionError::Snapshot(error.to_string());
    let size = postcard::experimental::serialized_size(value).map_err(|error| failed(&error))?;
    let mut length = [0u8; 10];
    out.write_all(postcard::to_slice(&(size as u64), &mut length).map_err(|error| failed(&error))?)
        .map_err(|error| failed(&error))?;
    // postcard writes field by field, a few bytes at a time: buffered before they are hashed.
    let mut hashing = std::io::BufWriter::with_capacity(64 << 10, Hashing { out, digest: sha2::Sha256::new(), len: 0 });
    postcard::to_io(value, &mut hashing).map_err(|error| failed(&error))?;
    let Hashing { out, digest, len } = hashing.into_inner().map_err(|error| failed(&error.error()))?;
    if len != size {
        return Err(ProjectionError::Snapshot(format!("{len} bytes written of the {size} measured")));
    }
    out.write_all(&digest.finalize()).map_err(|error| failed(&error))
}

/// Section `index` of the snapshot of `models`, in memory.
#[cfg(test)]
pub(crate) fn section_of(models: &ReadModels, index: usize) -> Option<Result<Vec<u8>, ProjectionError>> {
    let mut section = Vec::new();
    write_section(models, index, &mut section).map(|written| written.map(|()| section))
}

/// The length of a section's SHA-256.
pub(crate) const DIGEST_LEN: usize = 32;

/// Whether `value` serialises to exactly `expected`, compared as it is written: no second buffer
/// of the section's size.
pub(crate) fn serialises_to<T: Serialize>(value: &T, expected: &[u8]) -> bool {
    struct SameBytes<'a> {
        expected: &'a [u8],
        offset: usize,
    }
    impl std::io::Write for SameBytes<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let end = self.offset + bytes.len();
            if self.expected.get(self.offset..end) != Some(bytes) {
                return Err(std::io::Error::other("the serialisation differs"));
            }
            self.offset = end;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    postcard::to_io(value, SameBytes { expected, offset: 0 }).is_ok_and(|written| written.offset == expected.len())
}

/// Reads a snapshot's sections from its parts, holding at most one section and one part.
struct SectionReader {
    parts: ygor_store::SnapshotReader,
    /// Bytes read and not consumed yet start at `start`.
    pending: Vec<u8>,
    start: usize,
    /// Whether every part is read.
    done: bool,
}

impl SectionReader {
    fn new(parts: ygor_store::SnapshotReader) -> SectionReader {
        SectionReader { parts, pending: Vec::new(), start: 0, done: false }
    }

    fn available(&self) -> &[u8] {
        &self.pending[self.start..]
    }

    /// Reads parts until `needed` bytes are available or the body ends; false if it ended short.
    async fn fill(&mut self, needed: usize) -> Result<bool, ProjectionError> {
        while self.available().len() < needed && !self.done {
            let Some(part) = self.parts.next_part().await? else {
                self.done = true;
                break;
            };
            self.pending.drain(..self.start);
            self.start = 0;
            self.pending.reserve_exact(needed.max(self.pending.len() + part.len()) - self.pending.len());
            self.pending.extend_from_slice(&part);
        }
        Ok(self.available().len() >= needed)
    }

    /// The next section, decoded as a `T` once its digest matches; with `check`, also re-encoded
    /// and compared byte for byte (so that the value is exactly what was written).
    async fn next<T>(&mut self, name: &str, check: bool) -> Result<T, ProjectionError>
    where
        T: Serialize + serde::de::DeserializeOwned,
    {
        use sha2::Digest as _;
        let bad = |why: &str| ProjectionError::Snapshot(format!("section {name}: {why}"));
        // A varint of a u64 takes at most 10 bytes; a section takes more (its digest).
        self.fill(10).await?;
        let (len, rest) = postcard::take_from_bytes::<u64>(self.available()).map_err(|_| bad("no length"))?;
        let header = self.available().len() - rest.len();
        let end = usize::try_from(len).ok().and_then(|len| (header + DIGEST_LEN).checked_add(len));
        let Some(end) = end.filter(|&end| end <= self.parts.size()) else {
            return Err(bad("longer than the body"));
        };
        if !self.fill(end).await? {
            return Err(bad("the body ends inside it"));
        }
        let (bytes, digest) = self.available()[header..end].split_at(end - header - DIGEST_LEN);
        if sha2::Sha256::digest(bytes).as_slice() != digest {
            return Err(bad("its digest does not match"));
        }
        let value = match postcard::take_from_bytes::<T>(bytes) {
            Ok((value, [])) => value,
            Ok(_) => return Err(bad("bytes after its value")),
            Err(error) => return Err(bad(&error.to_string())),
        };
        if check && !serialises_to(&value, bytes) {
            return Err(bad("does not serialise back to what was read"));
        }
        self.start += end;
        Ok(value)
    }

    /// Whether the body ends right after the last section.
    async fn at_end(&mut self) -> Result<bool, ProjectionError> {
        Ok(!self.fill(1).await?)
    }
}

/// How many bytes of a snapshot the serialiser hands over at a time.
const SNAPSHOT_CHUNK: usize = 256 << 10;

/// Passes what it is given on to the snapshot's writer, a chunk at a time.
struct ChunkSender {
    chunk: Vec<u8>,
    sender: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(SNAPSHOT_CHUNK));
        self.sender.blocking_send(chunk).map_err(|_| std::io::Error::other("the snapshot's writer stopped"))
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= SNAPSHOT_CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() { Ok(()) } else { self.send() }
    }
}

/// Writes a snapshot of the models in `shared`. They are serialised on a blocking thread under
/// the READ lock (queries go on; only the runner, which alone takes the write lock, waits) and
/// handed to the store a chunk at a time as they are produced: the write holds a few MB beside
/// the models, not the body (decision 14).
pub(crate) async fn write_snapshot(log: &EventLog, shared: &Arc<RwLock<ReadModels>>) -> Result<(), ProjectionError> {
    let position = projections_position(shared);
    let mut writer = log.snapshot_writer(SNAPSHOT_NAME, position, SNAPSHOT_FORMAT).await?;
    let (sender, mut chunks) = tokio::sync::mpsc::channel(2);
    let models = shared.clone();
    let serialising = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let models = models.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if models.position != position {
            return Err(ProjectionError::Snapshot("the read models moved on while being written".to_owned()));
        }
        let mut out = ChunkSender { chunk: Vec::with_capacity(SNAPSHOT_CHUNK), sender };
        for index in 0..SECTIONS {
            write_section(&models, index, &mut out).unwrap_or(Ok(()))?;
        }
        out.flush().map_err(|error| ProjectionError::Snapshot(error.to_string()))
    });
    let mut stored = Ok(());
    while let Some(chunk) = chunks.recv().await {
        stored = writer.write(&chunk).await;
        if stored.is_err() {
            break;
        }
    }
    // A failed write stops the serialiser at its next chunk.
    drop(chunks);
    let serialised = serialising.await.map_err(|failed| ProjectionError::Snapshot(failed.to_string()))?;
    stored?;
    serialised?;
    writer.finish().await?;
    Ok(())
}

/// Writes the read models and the position they include (readers see the previous snapshot
/// until the whole of this one is stored), and gives them back.
pub async fn save_snapshot(log: &EventLog, models: ReadModels) -> Result<ReadModels, ProjectionError> {
    let shared = Arc::new(RwLock::new(models));
    let written = write_snapshot(log, &shared).await;
    // The serialiser's clone is gone once `write_snapshot` returns.
    let models = Arc::try_unwrap(shared)
        .map_err(|_| ProjectionError::Snapshot("the read models are still shared".to_owned()))?
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    written.map(|()| models)
}

/// The read models of the snapshot, if there is a whole one of this format (each section
/// re-encoded and compared with what was read when `check` is set); `None` otherwise.
pub(crate) async fn read_snapshot(log: &EventLog, check: bool) -> Result<Option<ReadModels>, ProjectionError> {
    let parts = match log.snapshot_reader(SNAPSHOT_NAME).await? {
        Some(parts) if parts.format() == SNAPSHOT_FORMAT => parts,
        Some(parts) => {
            tracing::info!(format = parts.format(), "ignoring a read-model snapshot of another format");
            return Ok(None);
        }
        None => return Ok(None),
    };
    let position = parts.position();
    let mut sections = SectionReader::new(parts);
    let models = read_sections(&mut sections, check).await?;
    if models.position != position || !sections.at_end().await? {
        return Err(ProjectionError::Snapshot("the body does not match its row".to_owned()));
    }
    Ok(Some(models))
}

/// The read models from the latest usable snapshot, or empty ones.
pub(crate) async fn load_snapshot(log: &EventLog) -> Result<ReadModels, ProjectionError> {
    match read_snapshot(log, false).await {
        Ok(Some(models)) => Ok(models),
        Ok(None) => Ok(ReadModels::default()),
        Err(ProjectionError::Store(StoreError::Serialization(message)) | ProjectionError::Snapshot(message)) => {
            tracing::warn!(%message, "the read-model snapshot does not read back; replaying the log");
            Ok(ReadModels::default())
        }
        Err(error) => Err(error),
    }
}
