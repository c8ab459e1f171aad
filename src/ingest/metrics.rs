//! Ingest's metric families: posts stored and how far each channel is behind. (Its per-account
//! figures — live updates, gaps, lag — are `crate::metrics::ingest`, exported by the registry.)

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::Families;

/// One channel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ChannelLabel {
    /// Account name.
    pub account: String,
    /// `@username` or id.
    pub channel: String,
}

/// What ingest records per channel.
pub(crate) struct IngestFamilies {
    /// Posts stored by channel.
    pub(crate) posts_ingested: Family<ChannelLabel, Counter>,
    /// The channel's newest message id minus its checkpoint, as of its last poll.
    pub(crate) channel_lag: Family<ChannelLabel, Gauge>,
}

impl Families for IngestFamilies {
    fn register(registry: &mut Registry) -> Self {
        let m = IngestFamilies {
            posts_ingested: Family::default(),
            channel_lag: Family::default(),
        };
        registry.register(
            "posts_ingested",
            "Posts stored by channel",
            m.posts_ingested.clone(),
        );
        registry.register(
            "channel_lag_messages",
            "Newest message id minus the checkpoint, at the channel's last poll",
            m.channel_lag.clone(),
        );
        m
    }
}
