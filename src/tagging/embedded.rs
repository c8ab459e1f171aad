//! The embedded tagger ([`tgsift_tagger`]) as one of tgsift's [`Tagger`]s: synchronous,
//! deterministic and never failing, so every attempt succeeds.

pub(crate) use tgsift_tagger::{DocFreq, EmbeddedTagger, tag_key};

use super::{TagContext, TagError, TagFuture, Tagger};

impl Tagger for EmbeddedTagger {
    fn name(&self) -> String {
        "embedded".to_owned()
    }

    fn tag<'a>(&'a self, text: &'a str, ctx: TagContext<'a>) -> TagFuture<'a> {
        Box::pin(async move { Ok::<_, TagError>(self.tags(text, ctx.doc_freq)) })
    }
}
