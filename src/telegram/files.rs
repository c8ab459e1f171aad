//! Downloading a file from Telegram: where it is now (a file reference is good for hours only, so
//! it is read fresh from a message that carries the file), and its bytes, one `upload.getFile`
//! chunk at a time on the file's own DC.

use std::collections::HashMap;

use grammers_tl_types as tl;

use super::channels::ChannelInfo;
use super::client::Account;
use super::error::TgError;
use super::media::largest_size;

/// Bytes asked per `upload.getFile`: Telegram's largest chunk (a divisor of 1 MB, so no chunk crosses
/// a megabyte boundary, as Telegram requires without `precise`).
pub(crate) const CHUNK: i64 = 512 * 1024;

/// Where a file is and how to ask for it, as a message carrying it says now.
#[derive(Clone, Debug)]
pub(crate) struct FileLocation {
    /// Telegram's photo or document id.
    pub file_id: i64,
    /// The location `upload.getFile` takes (with its fresh file reference).
    pub location: tl::enums::InputFileLocation,
    /// The DC that holds the file.
    pub dc_id: i32,
    /// The file's bytes, where the message says.
    pub size: Option<i64>,
}

/// The file of a message's media (a photo at its largest size, a document, a link preview's photo).
pub(crate) fn file_location(media: &tl::enums::MessageMedia) -> Option<FileLocation> {
    use tl::enums::MessageMedia as M;
    let photo = |p: &tl::enums::Photo| match p {
        tl::enums::Photo::Photo(p) => {
            let (thumb, _, _, size) = largest_size(p)?;
            Some(FileLocation {
                file_id: p.id,
                location: tl::types::InputPhotoFileLocation {
                    id: p.id,
                    access_hash: p.access_hash,
                    file_reference: p.file_reference.clone(),
                    thumb_size: thumb.to_string(),
                }
                .into(),
                dc_id: p.dc_id,
                size: Some(size),
            })
        }
        tl::enums::Photo::Empty(_) => None,
    };
    match media {
        M::Photo(p) => photo(p.photo.as_ref()?),
        M::Document(d) => match d.document.as_ref()? {
            tl::enums::Document::Document(d) => Some(FileLocation {
                file_id: d.id,
                location: tl::types::InputDocumentFileLocation {
                    id: d.id,
                    access_hash: d.access_hash,
                    file_reference: d.file_reference.clone(),
                    thumb_size: String::new(),
                }
                .into(),
                dc_id: d.dc_id,
                size: Some(d.size),
            }),
            tl::enums::Document::Empty(_) => None,
        },
        M::WebPage(w) => match &w.webpage {
            tl::enums::WebPage::Page(p) => photo(p.photo.as_ref()?),
            _ => None,
        },
        _ => None,
    }
}

impl Account {
    /// The files the messages `ids` of a channel carry now, by message id (a message without a file,
    /// deleted, or not answered is left out): one `channels.getMessages` per 100 ids.
    pub(crate) async fn file_locations(
        &self,
        c: &ChannelInfo,
        ids: &[i32],
    ) -> Result<HashMap<i32, FileLocation>, TgError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            for m in self.get_messages(c, chunk).await? {
                if let tl::enums::Message::Message(m) = m
                    && let Some(at) = m.media.as_ref().and_then(file_location)
                {
                    out.insert(m.id, at);
                }
            }
        }
        Ok(out)
    }

    /// `CHUNK` bytes of a file from `offset` (fewer at its end, none past it), asked on DC `dc`.
    /// Telegram's refusals come back as [`TgError::File`] (`FILE_MIGRATE` with the DC to ask,
    /// `FILE_REFERENCE_EXPIRED`…); floods are waited out or returned like any call's.
    pub(crate) async fn file_chunk(
        &self,
        at: &FileLocation,
        dc: i32,
        offset: i64,
    ) -> Result<Vec<u8>, TgError> {
        let req = tl::functions::upload::GetFile {
            precise: false,
            cdn_supported: false,
            location: at.location.clone(),
            offset,
            limit: CHUNK as i32,
        };
        match self.invoke_in(Some(dc), &req).await? {
            tl::enums::upload::File::File(f) => Ok(f.bytes),
            tl::enums::upload::File::CdnRedirect(_) => Err(TgError::File {
                account: self.name().to_string(),
                name: "CDN_REDIRECT (not asked for)".into(),
                value: None,
            }),
        }
    }
}
