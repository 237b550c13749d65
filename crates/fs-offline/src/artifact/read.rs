//! [`Artifact`]: a kept dataset opened for reading.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arrow_array::RecordBatch;
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::reader::{FileDecoder, FileReader, read_footer_length};
use arrow_schema::{ArrowError, SchemaRef};

use super::{ArtifactInfo, DATA, INFO, io, read_info};
use crate::engine::BatchStream;
use crate::error::{Error, Result};

/// A dataset artifact opened for reading: its rows stay readable while
/// this is alive, even if the artifact is removed or evicted meanwhile.
#[derive(Debug)]
pub struct Artifact {
    info: ArtifactInfo,
    dir: PathBuf,
    file: Arc<File>,
    reused: bool,
}

impl Artifact {
    /// Opens the artifact in `dir` and records the use; `None` if there
    /// is none. `built` says it was just built (not reused).
    pub(super) fn open(dir: &Path, built: bool) -> Result<Option<Artifact>> {
        let data = dir.join(DATA);
        let file = match File::open(&data) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("opening", &data)(e)),
        };
        let info_path = dir.join(INFO);
        // The last use is the modification time of info.json.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&info_path) {
            let _ = f.set_modified(SystemTime::now());
        }
        let Some(info) = read_info(dir)? else {
            return Ok(None);
        };
        Ok(Some(Artifact {
            info,
            dir: dir.to_path_buf(),
            file: Arc::new(file),
            reused: !built,
        }))
    }

    /// The dataset id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// What it is: spec, inputs, rows, bytes.
    pub fn info(&self) -> &ArtifactInfo {
        &self.info
    }

    /// Whether it was read from the store rather than built by this call.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// The Arrow IPC file holding the rows (readable by any Arrow
    /// implementation, e.g. pyarrow's `ipc.open_file`).
    pub fn data_path(&self) -> PathBuf {
        self.dir.join(DATA)
    }

    /// Streams the rows batch by batch from the file, on a blocking thread
    /// (memory: about two batches). Needs a tokio runtime.
    pub fn stream(&self) -> Result<BatchStream> {
        let path = self.data_path();
        let file = self.file.try_clone().map_err(io("opening", &path))?;
        let mut reader = FileReader::try_new(BufReader::with_capacity(1 << 20, file), None)
            .map_err(input(&path))?;
        let schema = reader.schema();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        tokio::task::spawn_blocking(move || {
            for batch in reader.by_ref() {
                let batch = batch.map_err(input(&path));
                let failed = batch.is_err();
                if tx.blocking_send(batch).is_err() || failed {
                    break;
                }
            }
        });
        let batches =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Ok(BatchStream::new(schema, batches))
    }

    /// Every row, read with one sequential read into one 64-byte aligned
    /// buffer: the arrays borrow from it (no copy per array, nothing
    /// decoded). Memory: the file's size.
    ///
    /// The workspace forbids `unsafe` code, which memory-mapping the file
    /// would need; one read of a file the page cache holds costs about a
    /// `memcpy` of it.
    pub fn read_all(&self) -> Result<Vec<RecordBatch>> {
        let path = self.data_path();
        let buffer = read_aligned(&self.file, &path)?;
        decode_all(&buffer).map_err(input(&path))
    }

    /// The schema of the rows.
    pub fn schema(&self) -> Result<SchemaRef> {
        let path = self.data_path();
        let file = self.file.try_clone().map_err(io("opening", &path))?;
        let reader = FileReader::try_new(BufReader::new(file), None).map_err(input(&path))?;
        Ok(reader.schema())
    }
}

/// The whole file in one 64-byte aligned buffer.
fn read_aligned(file: &File, path: &Path) -> Result<Buffer> {
    use std::os::unix::fs::FileExt;
    let len = file
        .metadata()
        .map_err(io("reading metadata of", path))?
        .len();
    let len = usize::try_from(len).map_err(|_| {
        Error::InvalidDataset(format!("{} is too large for this machine", path.display()))
    })?;
    let mut buf = MutableBuffer::from_len_zeroed(len);
    file.read_exact_at(buf.as_slice_mut(), 0)
        .map_err(io("reading", path))?;
    Ok(buf.into())
}

/// Every batch of the IPC file in `buffer`, sharing its memory.
fn decode_all(buffer: &Buffer) -> Result<Vec<RecordBatch>, ArrowError> {
    let corrupt = || ArrowError::IpcError("not an Arrow IPC file (too short)".into());
    let trailer_start = buffer.len().checked_sub(10).ok_or_else(corrupt)?;
    let trailer: [u8; 10] = buffer[trailer_start..].try_into().map_err(|_| corrupt())?;
    let footer_len = read_footer_length(trailer)?;
    let footer_start = trailer_start.checked_sub(footer_len).ok_or_else(corrupt)?;
    let footer = arrow_ipc::root_as_footer(&buffer[footer_start..trailer_start])
        .map_err(|e| ArrowError::IpcError(format!("reading the footer: {e}")))?;
    let schema = footer
        .schema()
        .ok_or_else(|| ArrowError::IpcError("the footer has no schema".into()))?;
    let schema = Arc::new(arrow_ipc::convert::fb_to_schema(schema));
    let mut decoder = FileDecoder::new(schema, footer.version());
    let block_data = |block: &arrow_ipc::Block| {
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        buffer.slice_with_length(block.offset() as usize, len)
    };
    for block in footer.dictionaries().iter().flatten() {
        decoder.read_dictionary(block, &block_data(block))?;
    }
    let mut out = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        if let Some(batch) = decoder.read_record_batch(block, &block_data(block))? {
            out.push(batch);
        }
    }
    Ok(out)
}

fn input(path: &Path) -> impl Fn(ArrowError) -> Error + use<> {
    let path = path.to_path_buf();
    move |e| Error::Input {
        path: path.clone(),
        source: Box::new(e),
    }
}
