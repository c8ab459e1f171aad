//! [`ImportStore`] and the left mark of [`ChannelStore`] on both backends: a dialogs import's offset
//! survives as written, an import is one row per account, and `left_at` is set once.

use super::{on_postgres, on_sqlite, setup};
use crate::prelude::*;
use crate::{DialogImport, OffsetPeer};

fn an_import_keeps_its_offset_and_is_one_row_per_account<
    S: AccountStore + ChannelStore + ImportStore + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    let account = s.channel(ch).expect("read").expect("exists").account_id;
    assert_eq!(s.dialog_import(account).expect("read"), None, "none yet");
    let mut import = DialogImport::start(account, r#"{"groups":true}"#.into(), 1_700_000_000);
    s.save_dialog_import(&import).expect("start");
    assert_eq!(
        s.dialog_import(account).expect("read"),
        Some(import.clone())
    );
    import.offset_date = 1_699_999_000;
    import.offset_id = 4_321;
    import.offset_peer = Some(OffsetPeer {
        kind: "channel".into(),
        id: 1_000_007_919,
        access_hash: -8_765_432_109_876,
    });
    import.pages = 2;
    import.dialogs = 200;
    import.followed = 143;
    import.updated_at = 1_700_000_060;
    s.save_dialog_import(&import).expect("page");
    assert_eq!(
        s.dialog_import(account).expect("read"),
        Some(import.clone()),
        "the offset of the next page, exactly as written"
    );
    import.offset_peer = Some(OffsetPeer {
        kind: "chat".into(),
        id: 40_001,
        access_hash: 0,
    });
    import.finished_at = Some(1_700_000_090);
    s.save_dialog_import(&import).expect("finish");
    assert_eq!(s.dialog_import(account).expect("read"), Some(import));
    let other = s
        .add_account("b", None, None, std::path::Path::new("b.session"))
        .expect("account b");
    assert_eq!(
        s.dialog_import(other.id).expect("read"),
        None,
        "another account's import is its own"
    );
    let fresh = DialogImport::start(account, "{}".into(), 1_700_000_100);
    s.save_dialog_import(&fresh).expect("start over");
    assert_eq!(
        s.dialog_import(account).expect("read"),
        Some(fresh),
        "starting over replaces the row"
    );
}

fn a_channel_is_marked_left_once<S: AccountStore + ChannelStore + ?Sized>(s: &mut S) {
    let ch = setup(s);
    assert_eq!(s.channel(ch).expect("read").expect("exists").left_at, None);
    assert!(
        !s.set_channel_left(ch, false).expect("member"),
        "a member staying one changes nothing"
    );
    assert!(
        s.set_channel_left(ch, true).expect("left"),
        "the first time"
    );
    let at = s.channel(ch).expect("read").expect("exists").left_at;
    assert!(at.is_some());
    assert!(
        !s.set_channel_left(ch, true).expect("left again"),
        "seen left again: not news"
    );
    assert_eq!(
        s.channel(ch).expect("read").expect("exists").left_at,
        at,
        "the first time is kept"
    );
    assert!(
        s.set_channel_left(ch, false).expect("back"),
        "a member again"
    );
    assert_eq!(s.channel(ch).expect("read").expect("exists").left_at, None);
    assert!(s.set_channel_left(ch, true).expect("left"), "left anew");
}

both! {
    dialog_import_offset_and_rows => an_import_keeps_its_offset_and_is_one_row_per_account,
    channel_left_once => a_channel_is_marked_left_once,
}
