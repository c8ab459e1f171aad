//! Downloaded files on disk, under `media.dir`:
//!
//! ```text
//! media/.partial/<file id>      a download in progress (its length is how far it got)
//! media/ab/abcdef….jpg          a finished file, named by the SHA-256 of its bytes
//! ```
//!
//! A partial file only ever grows by whole chunks written at its end, so after a crash (even kill -9
//! mid-write) its length rounded down to a chunk is bytes Telegram really sent: the download goes on
//! from there. A finished file is renamed into place; when a file with the same hash is already there
//! the partial one is dropped, so the same bytes are kept once however many files carry them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `media.dir` and the rules of its layout.
#[derive(Clone, Debug)]
pub(crate) struct MediaDir {
    root: PathBuf,
}

/// A file moved into place: its hash and its path under `media.dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Path under `media.dir` (`ab/abcd….jpg`).
    pub path: String,
    /// Bytes.
    pub size: i64,
}

impl MediaDir {
    /// The directory `root` (created when the first file is written).
    pub(crate) fn new(root: PathBuf) -> Self {
        MediaDir { root }
    }

    /// Where file `file_id`'s download in progress is kept.
    pub(crate) fn partial(&self, file_id: i64) -> PathBuf {
        self.root.join(".partial").join(file_id.to_string())
    }

    /// How many bytes of file `file_id` are already on disk, in whole chunks of `chunk` (a torn last
    /// chunk is cut off so the download resumes at a chunk boundary, as `upload.getFile` wants).
    pub(crate) fn resume_at(&self, file_id: i64, chunk: i64) -> std::io::Result<i64> {
        let path = self.partial(file_id);
        let len = match std::fs::metadata(&path) {
            Ok(m) => i64::try_from(m.len()).unwrap_or(i64::MAX),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let whole = len - len % chunk;
        if whole != len {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(whole as u64)?;
        }
        Ok(whole)
    }

    /// Appends a chunk to file `file_id`'s partial download, on disk before it returns (a crash after
    /// it never loses the chunk, a crash during it leaves a torn end [`MediaDir::resume_at`] cuts).
    pub(crate) fn append(&self, file_id: i64, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.partial(file_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        f.write_all(bytes)?;
        f.sync_data()
    }

    /// Drops file `file_id`'s partial download (it was wrong, or the file is gone).
    pub(crate) fn discard(&self, file_id: i64) -> std::io::Result<()> {
        match std::fs::remove_file(self.partial(file_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Hashes file `file_id`'s finished download and moves it to its name by hash (`ext` after it);
    /// when that name already holds the same bytes, the download is dropped instead.
    pub(crate) fn place(&self, file_id: i64, ext: &str) -> std::io::Result<Placed> {
        let partial = self.partial(file_id);
        let (sha256, size) = hash_file(&partial)?;
        let rel = format!("{}/{sha256}.{ext}", &sha256[..2]);
        let target = self.root.join(&rel);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if target.exists() {
            std::fs::remove_file(&partial)?;
        } else {
            std::fs::rename(&partial, &target)?;
        }
        Ok(Placed {
            sha256,
            path: rel,
            size,
        })
    }

    /// The absolute path of a file stored at `rel` (as [`Placed::path`] names it).
    pub(crate) fn path_of(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// The hex SHA-256 and length of a file, read in 1 MiB blocks.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<(String, i64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0i64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as i64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The extension a file gets on disk: from its MIME type, else from the sender's file name (letters
/// and digits only, at most 8), else `bin`.
pub(crate) fn extension(mime: Option<&str>, file_name: Option<&str>) -> String {
    let by_mime = match mime.unwrap_or("") {
        "image/jpeg" => Some("jpg"),
        "image/png" => Some("png"),
        "image/webp" => Some("webp"),
        "image/gif" => Some("gif"),
        "video/mp4" => Some("mp4"),
        "video/webm" => Some("webm"),
        "video/quicktime" => Some("mov"),
        "audio/mpeg" => Some("mp3"),
        "audio/ogg" => Some("ogg"),
        "audio/mp4" | "audio/x-m4a" => Some("m4a"),
        "application/pdf" => Some("pdf"),
        "application/zip" => Some("zip"),
        "application/x-tgsticker" => Some("tgs"),
        _ => None,
    };
    if let Some(ext) = by_mime {
        return ext.to_string();
    }
    file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_chunk_is_cut_and_equal_bytes_are_kept_once() {
        let dir = tempfile::tempdir().expect("dir");
        let media = MediaDir::new(dir.path().join("media"));
        assert_eq!(media.resume_at(7, 4).expect("none yet"), 0);
        media.append(7, b"abcd").expect("chunk");
        media.append(7, b"ef").expect("torn chunk");
        assert_eq!(media.resume_at(7, 4).expect("resume"), 4);
        assert_eq!(std::fs::read(media.partial(7)).expect("read"), b"abcd");
        media.append(7, b"efgh").expect("chunk");
        let placed = media.place(7, "bin").expect("place");
        // sha256("abcdefgh")
        let sha = "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab";
        assert_eq!(
            placed,
            Placed {
                sha256: sha.into(),
                path: format!("9c/{sha}.bin"),
                size: 8
            }
        );
        assert_eq!(
            std::fs::read(media.path_of(&placed.path)).expect("placed"),
            b"abcdefgh"
        );
        assert!(!media.partial(7).exists());
        // Another file with the same bytes: one copy stays.
        media.append(8, b"abcdefgh").expect("same bytes");
        assert_eq!(media.place(8, "bin").expect("place").path, placed.path);
        assert!(!media.partial(8).exists());
        let files = std::fs::read_dir(dir.path().join("media/9c"))
            .expect("dir")
            .count();
        assert_eq!(files, 1);
    }

    #[test]
    fn extensions_come_from_the_mime_type_or_a_clean_file_name() {
        assert_eq!(extension(Some("image/jpeg"), None), "jpg");
        assert_eq!(
            extension(Some("application/octet-stream"), Some("Report.PDF")),
            "pdf"
        );
        assert_eq!(extension(None, Some("../../etc/passwd")), "bin");
        assert_eq!(extension(None, Some("a.tar.gz")), "gz");
        assert_eq!(extension(None, Some("x.not an ext")), "bin");
        assert_eq!(extension(None, None), "bin");
    }
}
