//! [`SearchStore`] on both backends: inflected queries, phrases, the queue filled by ingest and
//! worked off behind it, edits and deletions reaching the index, filters.

use super::{Inspect, on_postgres, on_sqlite};
use crate::prelude::*;
use crate::testing::daily_post;
use crate::{PostIn, SearchQuery};

/// A channel holding one post per text (message ids 1, 2, …); returns its row id.
fn with_posts<S: AccountStore + ChannelStore + ?Sized>(s: &mut S, texts: &[&str]) -> i64 {
    let posts: Vec<PostIn> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| daily_post(i as i32 + 1, *t))
        .collect();
    crate::testing::news_with(s, &posts)
}

/// Message ids found for `q` (after the queue is worked off), ascending.
fn found<S: SearchStore + ?Sized>(s: &mut S, q: &str) -> Vec<i32> {
    s.index_queued().expect("index");
    let mut ids: Vec<i32> = s
        .search_posts(&SearchQuery::new(q))
        .expect("search")
        .iter()
        .map(|h| h.message_id)
        .collect();
    ids.sort();
    ids
}

fn inflected_queries_find_the_posts_ranked_with_snippets<
    S: AccountStore + ChannelStore + SearchStore + ?Sized,
>(
    s: &mut S,
) {
    with_posts(
        s,
        &[
            "ЦБ сохранил ключевую ставку на уровне 16%",
            "Ставки по вкладам растут",
            "Oil prices rose after the rate decision",
            "Нефть дорожает",
            "",
        ],
    );
    assert_eq!(found(s, "ставки"), vec![1, 2]);
    assert_eq!(found(s, "ставкой"), vec![1, 2]);
    assert_eq!(found(s, "ключевая ставка"), vec![1]);
    assert_eq!(found(s, "\"ставку на уровне\""), vec![1]);
    assert_eq!(found(s, "\"уровне ставку\""), Vec::<i32>::new());
    assert_eq!(found(s, "rates"), vec![3]);
    assert_eq!(found(s, "OIL Price"), vec![3]);
    assert_eq!(found(s, "нефти"), vec![4]);
    assert_eq!(found(s, "нефт*"), vec![4]);
    assert_eq!(found(s, "золото"), Vec::<i32>::new());
    assert_eq!(found(s, " — !! "), Vec::<i32>::new(), "no word, no hit");
    let hits = s.search_posts(&SearchQuery::new("ставки")).expect("search");
    let one = hits.iter().find(|h| h.message_id == 1).expect("post 1");
    assert_eq!(
        one.snippet, "ЦБ сохранил ключевую [ставку] на уровне 16%",
        "the original text, the inflected match marked"
    );
    assert!(hits.iter().all(|h| h.score > 0.0));
    let two = hits.iter().find(|h| h.message_id == 2).expect("post 2");
    assert_eq!(two.snippet, "[Ставки] по вкладам растут");
    // The shorter post, where the word weighs more, ranks first.
    assert_eq!(hits[0].message_id, 2);
}

fn the_index_follows_edits_deletes_and_filters<
    S: AccountStore + ChannelStore + SearchStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = with_posts(s, &["первая новость про ставки", "вторая про нефть"]);
    assert_eq!(s.index_queued().expect("index"), 2);
    let mut edited = daily_post(1, "первая новость про золото");
    edited.edit_date = Some(1_800_000_000);
    s.store_batch(ch, "@news", &[edited], None).expect("edit");
    assert_eq!(found(s, "ставка"), Vec::<i32>::new(), "old words are gone");
    assert_eq!(found(s, "золота"), vec![1]);
    s.mark_deleted(ch, 2);
    assert_eq!(found(s, "нефть"), Vec::<i32>::new());
    let mut q = SearchQuery::new("нефть");
    q.include_deleted = true;
    assert_eq!(s.search_posts(&q).expect("search").len(), 1);
    q.channel_ids = Some(vec![ch + 1]);
    assert!(s.search_posts(&q).expect("search").is_empty());
    q.channel_ids = Some(vec![ch]);
    q.since = Some(1_700_000_000 + 3 * 86_400);
    assert!(s.search_posts(&q).expect("search").is_empty());
    s.remove_channel(ch).expect("remove");
    assert_eq!(
        s.indexed_count(),
        0,
        "removing a channel empties its part of the index"
    );
}

fn queued_posts_are_indexed_once_with_their_latest_text<
    S: AccountStore + ChannelStore + SearchStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = with_posts(s, &["про ставки", "про нефть", "про золото", ""]);
    assert_eq!(
        s.search_backlog().expect("backlog"),
        3,
        "posts without text are not queued"
    );
    assert!(
        s.search_posts(&SearchQuery::new("нефть"))
            .expect("search")
            .is_empty(),
        "nothing is in the index before the queue is worked off"
    );
    // Stemmed, then edited and deleted before the batch is written.
    let batch = s.stem_queued(10).expect("stem");
    assert_eq!(batch.len(), 3);
    let mut edited = daily_post(1, "про уголь");
    edited.edit_date = Some(1_800_000_000);
    s.store_batch(ch, "@news", &[edited], None).expect("edit");
    s.delete_post(ch, 2);
    assert_eq!(
        s.index_stemmed(&batch).expect("index"),
        1,
        "only post 3 still has the text that was stemmed"
    );
    assert_eq!(
        s.search_backlog().expect("backlog"),
        1,
        "post 1 waits with its new text"
    );
    assert_eq!(found(s, "ставки"), Vec::<i32>::new());
    assert_eq!(found(s, "уголь"), vec![1]);
    assert_eq!(found(s, "золота"), vec![3]);
    assert_eq!(found(s, "нефть"), Vec::<i32>::new());
    assert_eq!(s.search_backlog().expect("backlog"), 0);
    assert_eq!(s.indexed_count(), 2);
    // Indexing again changes nothing; an indexed post emptied of its text leaves the index.
    assert_eq!(s.index_queued().expect("index"), 0);
    let mut emptied = daily_post(3, "");
    emptied.edit_date = Some(1_800_000_001);
    s.store_batch(ch, "@news", &[emptied], None).expect("edit");
    assert_eq!(s.search_backlog().expect("backlog"), 0);
    assert_eq!(found(s, "золото"), Vec::<i32>::new());
    assert_eq!(s.indexed_count(), 1);
    // A post indexed and then edited is queued again, its old words gone at once.
    let mut again = daily_post(1, "про серебро");
    again.edit_date = Some(1_800_000_002);
    s.store_batch(ch, "@news", &[again], None).expect("edit");
    assert_eq!(s.search_backlog().expect("backlog"), 1);
    assert_eq!(s.indexed_count(), 0);
    assert_eq!(found(s, "серебро"), vec![1]);
    assert_eq!(found(s, "уголь"), Vec::<i32>::new());
    assert_eq!(s.indexed_count(), 1);
}

both! {
    inflected_queries => inflected_queries_find_the_posts_ranked_with_snippets,
    edits_deletes_filters => the_index_follows_edits_deletes_and_filters,
    queued_posts => queued_posts_are_indexed_once_with_their_latest_text,
}
