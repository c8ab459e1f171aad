//! Fresh counters of posts: `messages.getMessagesViews` (views, forwards, comments; `increment` off,
//! so reading them counts as no view) and `messages.getMessagesReactions` (reactions per emoji), at
//! most 100 ids per call, through the client layer like every call.

use grammers_tl_types as tl;
use tgsift_store::CountsIn;

use super::channels::{ChannelInfo, label_of, with_channel};
use super::client::Account;
use super::error::TgError;

/// Ids per request, as Telegram takes them.
const PER_CALL: usize = 100;

impl Account {
    /// The current counters of posts `ids` of channel `c` (two requests per 100 ids), one entry per
    /// id; a post the answer has no counters for (deleted) has none.
    pub(crate) async fn counts(
        &self,
        c: &ChannelInfo,
        ids: &[i32],
    ) -> Result<Vec<CountsIn>, TgError> {
        let peer = tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
            channel_id: c.id,
            access_hash: c.access_hash,
        });
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PER_CALL) {
            let views = self
                .invoke(&tl::functions::messages::GetMessagesViews {
                    peer: peer.clone(),
                    id: chunk.to_vec(),
                    increment: false,
                })
                .await
                .map_err(|e| with_channel(e, &label_of(c)))?;
            let reactions = self
                .invoke(&tl::functions::messages::GetMessagesReactions {
                    peer: peer.clone(),
                    id: chunk.to_vec(),
                })
                .await
                .map_err(|e| with_channel(e, &label_of(c)))?;
            out.extend(read_counts(chunk, views, reactions));
        }
        Ok(out)
    }
}

/// The counters of `ids` from the two answers, one entry per id: views come in the order asked,
/// reactions as `updateMessageReactions` per post that has any.
fn read_counts(
    ids: &[i32],
    views: tl::enums::messages::MessageViews,
    reactions: tl::enums::Updates,
) -> Vec<CountsIn> {
    let tl::enums::messages::MessageViews::Views(views) = views;
    let updates = match reactions {
        tl::enums::Updates::Updates(u) => u.updates,
        tl::enums::Updates::Combined(u) => u.updates,
        tl::enums::Updates::UpdateShort(u) => vec![u.update],
        _ => Vec::new(),
    };
    let mut per_post: std::collections::HashMap<i32, Vec<(String, i32)>> = updates
        .into_iter()
        .filter_map(|u| match u {
            tl::enums::Update::MessageReactions(r) => {
                let tl::enums::MessageReactions::Reactions(list) = r.reactions;
                Some((r.msg_id, list.results.into_iter().map(reaction).collect()))
            }
            _ => None,
        })
        .collect();
    // Views come one per id asked, in order; an answer cut short leaves the rest without counters.
    let mut views = views.views.into_iter();
    ids.iter()
        .map(|&id| {
            let mut c = CountsIn {
                message_id: id,
                reactions: per_post.remove(&id),
                ..CountsIn::default()
            };
            if let Some(tl::enums::MessageViews::Views(v)) = views.next() {
                c.views = v.views;
                c.forwards = v.forwards;
                if let Some(t) = v.replies.and_then(super::channels::thread) {
                    c.replies = Some(t.replies);
                    c.replies_max_id = t.max_id;
                }
            }
            c
        })
        .collect()
}

/// One reaction's key and count: the emoji, `custom:ID` for a custom emoji, `paid` for stars.
fn reaction(r: tl::enums::ReactionCount) -> (String, i32) {
    let tl::enums::ReactionCount::Count(r) = r;
    let key = match r.reaction {
        tl::enums::Reaction::Emoji(e) => e.emoticon,
        tl::enums::Reaction::CustomEmoji(e) => format!("custom:{}", e.document_id),
        tl::enums::Reaction::Paid => "paid".into(),
        tl::enums::Reaction::Empty => "empty".into(),
    };
    (key, r.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_asked_gets_an_entry_with_what_the_answers_said() {
        let views = tl::types::messages::MessageViews {
            views: vec![
                tl::types::MessageViews {
                    views: Some(10),
                    forwards: Some(2),
                    replies: None,
                }
                .into(),
                tl::types::MessageViews {
                    views: None,
                    forwards: None,
                    replies: None,
                }
                .into(),
            ],
            chats: vec![],
            users: vec![],
        };
        let count = |reaction, count| -> tl::enums::ReactionCount {
            tl::types::ReactionCount {
                chosen_order: None,
                reaction,
                count,
            }
            .into()
        };
        let reactions = tl::types::UpdateMessageReactions {
            peer: tl::types::PeerChannel { channel_id: 5 }.into(),
            msg_id: 1,
            top_msg_id: None,
            saved_peer_id: None,
            reactions: tl::types::MessageReactions {
                min: false,
                can_see_list: false,
                reactions_as_tags: false,
                results: vec![
                    count(
                        tl::types::ReactionEmoji {
                            emoticon: "👍".into(),
                        }
                        .into(),
                        3,
                    ),
                    count(tl::types::ReactionCustomEmoji { document_id: 9 }.into(), 1),
                ],
                recent_reactions: None,
                top_reactors: None,
            }
            .into(),
        };
        let updates = tl::types::Updates {
            updates: vec![reactions.into()],
            users: vec![],
            chats: vec![],
            date: 0,
            seq: 0,
        };
        let got = read_counts(&[1, 2, 3], views.into(), updates.into());
        assert_eq!(
            got,
            [
                CountsIn {
                    message_id: 1,
                    views: Some(10),
                    forwards: Some(2),
                    replies: None,
                    replies_max_id: None,
                    reactions: Some(vec![("👍".into(), 3), ("custom:9".into(), 1)]),
                },
                CountsIn {
                    message_id: 2,
                    ..CountsIn::default()
                },
                CountsIn {
                    message_id: 3,
                    ..CountsIn::default()
                },
            ]
        );
    }
}
