//! The repository suite, run against SQLite, MariaDB/MySQL and PostgreSQL alike.

use ibal_gateway::domain::*;
use ibal_gateway::store::*;

fn claims(issuer: &str, subject: &str, username: &str) -> IdentityClaims {
    IdentityClaims {
        issuer: issuer.into(),
        subject: subject.into(),
        username: username.into(),
        name: format!("{username} Name"),
        email: format!("{username}@example.com"),
        role: None,
    }
}

fn ctx(course: &str, block: &str) -> ChatContext {
    ChatContext { platform: "http://lms/oauth2".into(), course_id: course.into(), block_id: block.into() }
}

db_test!(migrations_are_idempotent, |db: Db| async move {
    let again = db.migrate().await.expect("second run");
    assert_eq!(again.applied_now, 0, "nothing new to apply");
    assert!(again.total >= 1);
    db.ping().await.expect("ping");
});

db_test!(identity_upsert_keeps_one_user_per_door, |db: Db| async move {
    let first = db.upsert_identity(&claims("http://lms/oauth2", "anon-1", "john_doe")).await.expect("create");
    assert_eq!(first.username, "john_doe");
    let mut changed = claims("http://lms/oauth2", "anon-1", "john_doe");
    changed.email = "new@example.com".into();
    changed.role = Some(Role::Admin);
    let again = db.upsert_identity(&changed).await.expect("update");
    assert_eq!(again.id, first.id, "same door, same user");
    assert_eq!(again.email, "new@example.com");
    assert_eq!(again.role, Role::Admin, "Open edX global staff are operators");
    // A door that says nothing of the global role (or of the name) leaves it as it is.
    let silent = IdentityClaims {
        name: String::new(),
        email: String::new(),
        ..claims("http://lms/oauth2", "anon-1", "john_doe")
    };
    let kept = db.upsert_identity(&silent).await.expect("update");
    assert_eq!((kept.role, kept.email.as_str(), kept.name.as_str()), (Role::Admin, "new@example.com", "john_doe Name"));

    // The same subject from another issuer is another person.
    let other = db.upsert_identity(&claims("https://canvas.example", "anon-1", "john_doe")).await.expect("create");
    assert_ne!(other.id, first.id);
    assert_eq!(db.count_users().await.expect("count"), 2);
    // Subjects are compared exactly, never case-folded.
    let upper = db.upsert_identity(&claims("http://lms/oauth2", "ANON-1", "jd")).await.expect("create");
    assert_ne!(upper.id, first.id);
});

db_test!(concurrent_first_logins_make_one_user, |db: Db| async move {
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.upsert_identity(&claims("iss", "same-person", "racer")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("join").expect("upsert").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all logins resolved to one user");
    assert_eq!(db.count_users().await.expect("count"), 1, "no orphan user rows left behind");
});

db_test!(local_accounts_refuse_taken_names, |db: Db| async move {
    let user = db.create_local_user("Alice", "Alice A", "alice@example.com", "$argon2id$fake").await.expect("create");
    assert_eq!(user.username, "Alice");
    let taken = db.create_local_user("alice", "", "", "$argon2id$other").await;
    assert!(matches!(taken, Err(DbError::Conflict("username_taken"))), "got {taken:?}");
    let (found, hash) = db.local_credentials("ALICE").await.expect("query").expect("found");
    assert_eq!(found.id, user.id);
    assert_eq!(hash, "$argon2id$fake");
    assert!(db.local_credentials("bob").await.expect("query").is_none());
    assert_eq!(db.count_users().await.expect("count"), 1, "the refused account left nothing behind");
});

db_test!(last_seen_is_written_at_most_once_a_minute, |db: Db| async move {
    let fresh = db.upsert_identity(&claims("iss", "seen", "seen")).await.expect("user");
    db.touch_user(&fresh).await.expect("touch");
    let seen = db.get_user(&fresh.id).await.expect("get");
    let first = seen.last_seen_at.expect("recorded");
    // Within the resolution the stored time stays: reconnecting sockets do not write.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    db.touch_user(&seen).await.expect("touch again");
    assert_eq!(db.get_user(&fresh.id).await.expect("get").last_seen_at, Some(first));
    // Once it is older, it moves.
    let stale = User { last_seen_at: Some(first - LAST_SEEN_RESOLUTION_MS), ..seen };
    db.touch_user(&stale).await.expect("touch stale");
    assert!(db.get_user(&fresh.id).await.expect("get").last_seen_at.expect("recorded") > first);
});

db_test!(conversations_are_per_user_and_context, |db: Db| async move {
    let a = db.upsert_identity(&claims("iss", "a", "a")).await.expect("user");
    let b = db.upsert_identity(&claims("iss", "b", "b")).await.expect("user");
    let c1 = db.conversation_for(Owner::User(&a.id), &ctx("course-v1:X+Y+Z", "block-1")).await.expect("create");
    let c1_again = db.conversation_for(Owner::User(&a.id), &ctx("course-v1:X+Y+Z", "block-1")).await.expect("resume");
    assert_eq!(c1.id, c1_again.id, "reconnecting resumes the conversation");
    let c2 = db.conversation_for(Owner::User(&a.id), &ctx("course-v1:X+Y+Z", "block-2")).await.expect("other block");
    assert_ne!(c1.id, c2.id);
    let cb = db.conversation_for(Owner::User(&b.id), &ctx("course-v1:X+Y+Z", "block-1")).await.expect("other user");
    assert_ne!(c1.id, cb.id);
    let room = db.conversation_for(Owner::Room, &ctx("course-v1:X+Y+Z", "block-1")).await.expect("room");
    assert!(room.is_room() && room.user_id.is_none());
    assert_eq!(db.conversation_for(Owner::Room, &ctx("course-v1:X+Y+Z", "block-1")).await.expect("room").id, room.id);
    // A very long context still fits the unique key.
    let long = "x".repeat(240);
    let l = db.conversation_for(Owner::User(&a.id), &ctx(&long, &long)).await.expect("long context");
    assert_eq!(l.course_id, long);

    let mine = db.list_conversations(&a.id, 10).await.expect("list");
    assert_eq!(mine.len(), 3);
    assert!(!db.delete_conversation(&c1.id, &b.id).await.expect("delete"), "only the owner deletes");
    assert!(db.delete_conversation(&c1.id, &a.id).await.expect("delete"));
    assert!(matches!(db.get_conversation(&c1.id).await, Err(DbError::NotFound)));
});

db_test!(messages_are_stored_once_per_client_id, |db: Db| async move {
    let u = db.upsert_identity(&claims("iss", "u", "john_doe")).await.expect("user");
    let conv = db.conversation_for(Owner::User(&u.id), &ctx("c", "b")).await.expect("conv");
    let first = db
        .insert_message(&NewMessage::from_user(&conv.id, &u.id, "john_doe", "client-1", "Hello!"))
        .await
        .expect("store");
    assert!(first.created);
    assert_eq!(first.message.content, "Hello!");
    assert_eq!(first.message.role, MessageRole::User);
    // The resend after a reconnect is acknowledged with the first copy, not stored again.
    let resend = db
        .insert_message(&NewMessage::from_user(&conv.id, &u.id, "john_doe", "client-1", "Hello!"))
        .await
        .expect("resend");
    assert!(!resend.created);
    assert_eq!(resend.message.id, first.message.id);
    assert_eq!(db.count_messages(&conv.id).await.expect("count"), 1);

    // Unicode and quotes survive the round trip on every engine.
    let text = "Ça va? ‘quotes’ \"double\" 🎓 '; DROP TABLE messages; --";
    let m =
        db.insert_message(&NewMessage::from_user(&conv.id, &u.id, "john_doe", "client-2", text)).await.expect("store");
    assert_eq!(db.get_message(&m.message.id).await.expect("get").content, text);

    // Replies have no client id and may be many.
    for status in [MessageStatus::Complete, MessageStatus::Failed] {
        let reply = NewMessage {
            id: None,
            conversation_id: &conv.id,
            sender_id: None,
            client_id: None,
            role: MessageRole::Assistant,
            sender_name: "assistant",
            sender_role: "",
            content: "partial",
            status,
            reply_to: Some(&first.message.id),
            replaces: None,
            error_code: (status == MessageStatus::Failed).then_some("backend_unavailable"),
            tokens: Some(12),
            latency_ms: Some(300),
            first_token_ms: None,
            sources: None,
        };
        assert!(db.insert_message(&reply).await.expect("reply").created);
    }
    let totals = db.message_totals(None).await.expect("totals");
    assert_eq!(totals.messages, 4);
    assert_eq!(totals.replies, 2);
    assert_eq!(totals.failed_replies, 1);
    assert_eq!(totals.tokens, 24);
    assert_eq!(totals.mean_latency_ms, Some(300));
    assert!(db.reply_exists(&first.message.id).await.expect("query"));
    assert!(!db.reply_exists(&m.message.id).await.expect("query"));
});

db_test!(room_client_ids_do_not_collide_between_senders, |db: Db| async move {
    let a = db.upsert_identity(&claims("iss", "a", "a")).await.expect("user");
    let b = db.upsert_identity(&claims("iss", "b", "b")).await.expect("user");
    let room = db.conversation_for(Owner::Room, &ctx("c", "b")).await.expect("room");
    let ma = db.insert_message(&NewMessage::from_user(&room.id, &a.id, "a", "same-id", "from a")).await.expect("a");
    let mb = db.insert_message(&NewMessage::from_user(&room.id, &b.id, "b", "same-id", "from b")).await.expect("b");
    assert!(ma.created && mb.created, "one sender cannot suppress another's message");
    assert_eq!(db.count_messages(&room.id).await.expect("count"), 2);
});

db_test!(concurrent_messages_are_each_stored_once_and_a_bad_one_costs_no_other, |db: Db| async move {
    // Many senders at once: their messages share the writer's transactions. Resends race their
    // originals, and a message for a conversation that does not exist fails alone.
    let u = db.upsert_identity(&claims("iss", "u", "u")).await.expect("user");
    let conv = db.conversation_for(Owner::Room, &ctx("c", "busy")).await.expect("room");
    let mut tasks = Vec::new();
    for i in 0..240 {
        for copy in 0..if i % 8 == 0 { 2 } else { 1 } {
            let (db, conv_id, user_id) = (db.clone(), conv.id.clone(), u.id.clone());
            tasks.push(tokio::spawn(async move {
                let client_id = format!("c{i}");
                let text = format!("m{i}");
                let stored =
                    db.insert_message(&NewMessage::from_user(&conv_id, &user_id, "u", &client_id, &text)).await;
                (i, copy, stored)
            }));
        }
        if i % 60 == 0 {
            let (db, user_id) = (db.clone(), u.id.clone());
            tasks.push(tokio::spawn(async move {
                let stored =
                    db.insert_message(&NewMessage::from_user("no-such-room", &user_id, "u", "x", "lost")).await;
                (usize::MAX, 0, stored)
            }));
        }
    }
    let mut ids: std::collections::HashMap<usize, (String, usize)> = std::collections::HashMap::new();
    let mut refused = 0;
    for task in tasks {
        let (i, _copy, stored) = task.await.expect("join");
        if i == usize::MAX {
            assert!(stored.is_err(), "a message for no conversation is refused, got {stored:?}");
            refused += 1;
            continue;
        }
        let stored = stored.unwrap_or_else(|e| panic!("message {i} failed: {e}"));
        assert_eq!(stored.message.content, format!("m{i}"));
        let entry = ids.entry(i).or_insert_with(|| (stored.message.id.clone(), 0));
        assert_eq!(entry.0, stored.message.id, "a resend answers with the first copy");
        entry.1 += usize::from(stored.created);
    }
    assert_eq!(refused, 4);
    assert_eq!(ids.len(), 240);
    assert!(ids.values().all(|(_, created)| *created == 1), "each message created exactly once");
    assert_eq!(db.count_messages(&conv.id).await.expect("count"), 240, "rows = messages acknowledged");
    let page = db.history(&conv.id, None, 200).await.expect("history");
    assert_eq!(page.len(), 200);
});

db_test!(a_message_marks_its_conversation_updated_once_a_second, |db: Db| async move {
    let u = db.upsert_identity(&claims("iss", "u", "u")).await.expect("user");
    let conv = db.conversation_for(Owner::User(&u.id), &ctx("c", "b")).await.expect("conv");
    sqlx::query("UPDATE conversations SET updated_at = 0").execute(db.pool()).await.expect("age it");
    let first = db.insert_message(&NewMessage::from_user(&conv.id, &u.id, "u", "c1", "one")).await.expect("store");
    let updated = db.get_conversation(&conv.id).await.expect("get").updated_at;
    assert_eq!(updated, first.message.created_at, "a stale conversation follows its newest message");
    // Within the resolution the row is left alone.
    let second = db.insert_message(&NewMessage::from_user(&conv.id, &u.id, "u", "c2", "two")).await.expect("store");
    let expected = if second.message.created_at - updated < TOUCH_RESOLUTION_MS {
        updated
    } else {
        second.message.created_at // a very slow machine: the second message came after the resolution
    };
    assert_eq!(db.get_conversation(&conv.id).await.expect("get").updated_at, expected);
});

db_test!(history_pages_backwards_in_order, |db: Db| async move {
    let u = db.upsert_identity(&claims("iss", "u", "u")).await.expect("user");
    let conv = db.conversation_for(Owner::User(&u.id), &ctx("c", "b")).await.expect("conv");
    let mut ids = Vec::new();
    for i in 0..7 {
        let m = db
            .insert_message(&NewMessage::from_user(&conv.id, &u.id, "u", &format!("c{i}"), &format!("m{i}")))
            .await
            .expect("store");
        ids.push(m.message.id);
    }
    let newest = db.history(&conv.id, None, 3).await.expect("page");
    assert_eq!(newest.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["m4", "m5", "m6"]);
    let older = db.history(&conv.id, Some(&newest[0].id), 3).await.expect("page");
    assert_eq!(older.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["m1", "m2", "m3"]);
    let oldest = db.history(&conv.id, Some(&older[0].id), 3).await.expect("page");
    assert_eq!(oldest.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["m0"]);
    // An anchor from another conversation is refused, not silently ignored.
    let other = db.conversation_for(Owner::User(&u.id), &ctx("c", "other")).await.expect("conv");
    assert!(matches!(db.history(&other.id, Some(&ids[0]), 3).await, Err(DbError::NotFound)));
});

db_test!(feedback_is_one_rating_per_user_and_message, |db: Db| async move {
    let u = db.upsert_identity(&claims("iss", "u", "u")).await.expect("user");
    let conv = db.conversation_for(Owner::User(&u.id), &ctx("c", "b")).await.expect("conv");
    let m = db.insert_message(&NewMessage::from_user(&conv.id, &u.id, "u", "c1", "hi")).await.expect("msg");
    db.set_feedback(&m.message.id, &u.id, 5, "great").await.expect("rate");
    db.set_feedback(&m.message.id, &u.id, 1, "changed my mind").await.expect("re-rate");
    assert_eq!(db.feedback_of(&m.message.id, &u.id).await.expect("get"), Some((1, "changed my mind".into())));
    // Feedback goes with its conversation.
    assert!(db.delete_conversation(&conv.id, &u.id).await.expect("delete"));
    assert_eq!(db.feedback_of(&m.message.id, &u.id).await.expect("get"), None);
});

fn key(kid: &str, at: i64) -> SigningKeyRow {
    SigningKeyRow {
        kid: kid.into(),
        algorithm: "RS256".into(),
        private_key: format!("-----BEGIN PRIVATE KEY-----{kid}"),
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at: at,
        retired_at: None,
        expires_at: None,
    }
}

db_test!(signing_keys_rotate_and_stay_published_until_expiry, |db: Db| async move {
    assert!(db.active_signing_key().await.expect("query").is_none());
    db.rotate_in_signing_key(&key("k1", 1_000), 0).await.expect("first key");
    assert_eq!(db.active_signing_key().await.expect("query").expect("active").kid, "k1");
    // k2 replaces k1 for signing; k1 stays published until 5_000.
    db.rotate_in_signing_key(&key("k2", 2_000), 5_000).await.expect("rotate");
    assert_eq!(db.active_signing_key().await.expect("query").expect("active").kid, "k2");
    let published: Vec<String> =
        db.published_signing_keys(4_999).await.expect("jwks").into_iter().map(|k| k.kid).collect();
    assert_eq!(published, ["k2", "k1"]);
    let later: Vec<String> = db.published_signing_keys(5_000).await.expect("jwks").into_iter().map(|k| k.kid).collect();
    assert_eq!(later, ["k2"]);
    assert!(!format!("{:?}", key("k9", 0)).contains("BEGIN PRIVATE KEY"), "Debug redacts the private key");
});

fn refresh(id: &str, hash: &str, family: &str, user: &str, expires_at: i64) -> RefreshTokenRow {
    RefreshTokenRow {
        id: id.into(),
        token_hash: hash.into(),
        family_id: family.into(),
        user_id: user.into(),
        client_id: "widget".into(),
        scope: "chat".into(),
        context: "{}".into(),
        created_at: now_ms(),
        expires_at,
        used_at: None,
        revoked_at: None,
    }
}

fn family(id: &str, user: &str, expires_at: i64) -> RefreshFamily {
    RefreshFamily {
        id: id.into(),
        user_id: user.into(),
        client_id: "widget".into(),
        created_at: now_ms(),
        expires_at,
        revoked_at: None,
    }
}

db_test!(refresh_tokens_rotate_and_reuse_revokes_the_family, |db: Db| async move {
    let u = db.upsert_identity(&claims("iss", "u", "u")).await.expect("user");
    let later = now_ms() + 60_000;
    for name in ["fam", "fam2"] {
        db.create_refresh_family(&family(name, &u.id, later)).await.expect("family");
    }
    db.insert_refresh_token(&refresh("r1", &"a".repeat(64), "fam", &u.id, later)).await.expect("insert");
    let RefreshUse::Fresh { row, family_expires_at } = db.use_refresh_token(&"a".repeat(64)).await.expect("use") else {
        panic!("fresh")
    };
    assert_eq!((row.family_id.as_str(), family_expires_at), ("fam", later));
    db.insert_refresh_token(&refresh("r2", &"b".repeat(64), "fam", &u.id, later)).await.expect("successor");
    assert!(db.refresh_family_alive("fam").await.expect("alive"));
    // The first token presented again: theft. The family, successor included, is revoked.
    assert_eq!(
        db.use_refresh_token(&"a".repeat(64)).await.expect("reuse"),
        RefreshUse::Reused { family_id: "fam".into() }
    );
    assert!(matches!(db.use_refresh_token(&"b".repeat(64)).await.expect("use"), RefreshUse::Reused { .. }));
    assert!(!db.refresh_family_alive("fam").await.expect("alive"));
    assert_eq!(db.use_refresh_token(&"c".repeat(64)).await.expect("unknown"), RefreshUse::Unknown);
    db.insert_refresh_token(&refresh("r3", &"d".repeat(64), "fam2", &u.id, now_ms() - 1)).await.expect("expired");
    assert_eq!(db.use_refresh_token(&"d".repeat(64)).await.expect("expired"), RefreshUse::Expired);
    // A successor inserted after the family was revoked is dead too: the family is checked.
    db.insert_refresh_token(&refresh("r4", &"f".repeat(64), "fam", &u.id, later)).await.expect("late successor");
    assert!(matches!(db.use_refresh_token(&"f".repeat(64)).await.expect("use"), RefreshUse::Reused { .. }));
    // A family past its absolute end refuses even an unexpired token.
    db.create_refresh_family(&family("fam3", &u.id, now_ms() - 1)).await.expect("family");
    db.insert_refresh_token(&refresh("r5", &"g".repeat(64), "fam3", &u.id, later)).await.expect("insert");
    assert_eq!(db.use_refresh_token(&"g".repeat(64)).await.expect("use"), RefreshUse::Expired);
    assert!(!db.refresh_family_alive("fam3").await.expect("alive"));
});

db_test!(a_refresh_token_is_fresh_only_once_under_concurrency, |db: Db| async move {
    let u = db.upsert_identity(&claims("iss", "u", "u")).await.expect("user");
    db.create_refresh_family(&family("fam", &u.id, now_ms() + 60_000)).await.expect("family");
    db.insert_refresh_token(&refresh("r1", &"e".repeat(64), "fam", &u.id, now_ms() + 60_000)).await.expect("insert");
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.use_refresh_token(&"e".repeat(64)).await })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        if matches!(t.await.expect("join").expect("use"), RefreshUse::Fresh { .. }) {
            fresh += 1;
        }
    }
    // One claims it; the others are a reuse, which revokes the login: the winner may find it revoked
    // already (then none is fresh), and after the race nothing of the family works.
    assert!(fresh <= 1, "{fresh} presentations were fresh");
    assert!(!db.refresh_family_alive("fam").await.expect("alive"));
});

db_test!(oauth_clients_crud, |db: Db| async move {
    let client = OAuthClientRow {
        client_id: "mfe".into(),
        name: "Learning MFE".into(),
        secret_hash: Some("hash".into()),
        redirect_uris: r#"["https://apps.lms/callback"]"#.into(),
        grant_types: "authorization_code refresh_token".into(),
        scopes: "openid profile".into(),
        first_party: 1,
        created_at: now_ms(),
    };
    db.insert_client(&client).await.expect("insert");
    assert!(matches!(db.insert_client(&client).await, Err(DbError::Conflict("client_exists"))));
    assert_eq!(db.get_client("mfe").await.expect("get"), Some(client.clone()));
    assert!(db.get_client("MFE").await.expect("get").is_none(), "client ids are exact");
    assert_eq!(db.list_clients().await.expect("list").len(), 1);
    assert!(db.delete_client("mfe").await.expect("delete"));
    assert!(!db.delete_client("mfe").await.expect("delete"));
});

db_test!(lti_platforms_deployments_and_nonces, |db: Db| async move {
    let new = NewLtiPlatform {
        issuer: "https://canvas.instructure.com",
        client_id: "10000000000001",
        name: "Canvas",
        auth_url: "https://canvas.instructure.com/api/lti/authorize_redirect",
        token_url: Some("https://canvas.instructure.com/login/oauth2/token"),
        jwks_url: "https://canvas.instructure.com/api/lti/security/jwks",
    };
    let p = db.insert_lti_platform(&new, &["1:abc", "2:def"]).await.expect("insert");
    assert!(matches!(db.insert_lti_platform(&new, &[]).await, Err(DbError::Conflict("platform_exists"))));
    assert_eq!(db.find_lti_platforms(new.issuer, Some(new.client_id)).await.expect("find"), vec![p.clone()]);
    assert_eq!(db.find_lti_platforms(new.issuer, None).await.expect("find").len(), 1);
    assert!(db.find_lti_platforms(new.issuer, Some("other")).await.expect("find").is_empty());
    assert!(db.has_lti_deployment(&p.id, "1:abc").await.expect("dep"));
    assert!(!db.has_lti_deployment(&p.id, "3:ghi").await.expect("dep"));
    db.add_lti_deployment(&p.id, "3:ghi").await.expect("add");
    db.add_lti_deployment(&p.id, "3:ghi").await.expect("add twice is fine");
    assert_eq!(db.lti_deployments(&p.id).await.expect("list"), ["1:abc", "2:def", "3:ghi"]);

    let exp = now_ms() + 3_600_000;
    assert!(db.record_lti_nonce(&p.id, "nonce-1", exp).await.expect("first"));
    assert!(!db.record_lti_nonce(&p.id, "nonce-1", exp).await.expect("replay"), "a replayed nonce is refused");
    db.record_lti_nonce(&p.id, "old", now_ms() - 1).await.expect("old");
    assert_eq!(db.purge_expired_lti_nonces(now_ms()).await.expect("purge"), 1);
    assert!(!db.record_lti_nonce(&p.id, "nonce-1", exp).await.expect("still remembered"));

    assert!(db.delete_lti_platform(&p.id).await.expect("delete"));
    assert!(db.list_lti_platforms().await.expect("list").is_empty());
});

db_test!(sessions_store_round_trip, |db: Db| async move {
    let now = now_ms();
    db.session_create("s1", r#"{"a":1}"#, now + 60_000).await.expect("create");
    assert!(matches!(db.session_create("s1", "{}", now + 60_000).await, Err(DbError::Conflict(_))));
    assert_eq!(db.session_load("s1", now).await.expect("load").as_deref(), Some(r#"{"a":1}"#));
    db.session_save("s1", r#"{"a":2}"#, now + 60_000).await.expect("save");
    db.session_save("s2", r#"{"b":1}"#, now + 60_000).await.expect("save creates");
    assert_eq!(db.session_load("s1", now).await.expect("load").as_deref(), Some(r#"{"a":2}"#));
    assert_eq!(db.session_load("s1", now + 60_000).await.expect("load"), None, "expired sessions do not load");
    db.session_delete("s1").await.expect("delete");
    assert_eq!(db.session_load("s1", now).await.expect("load"), None);
    assert_eq!(db.purge_expired_sessions(now + 120_000).await.expect("purge"), 1);
});

db_test!(a_cli_grant_outranks_the_doors_and_can_be_withdrawn, |db: Db| async move {
    let user = db.upsert_identity(&claims("local", "op", "op")).await.expect("user");
    assert_eq!(user.role, Role::Learner);
    db.grant_role(&user.id, Some(Role::Admin)).await.expect("grant");
    // The next sign-in through a door that reports learner does not undo the grant.
    let door = IdentityClaims { role: Some(Role::Learner), ..claims("local", "op", "op") };
    assert_eq!(db.upsert_identity(&door).await.expect("sign in").role, Role::Admin);
    assert_eq!(db.list_users(true).await.expect("operators").len(), 1);
    db.grant_role(&user.id, None).await.expect("revoke");
    assert_eq!(db.get_user(&user.id).await.expect("user").role, Role::Learner);
    assert!(db.list_users(true).await.expect("operators").is_empty());
    assert_eq!(db.find_users("op").await.expect("by name").len(), 1);
    assert_eq!(db.find_users(&user.id).await.expect("by id").len(), 1);
    assert!(matches!(db.grant_role("nobody", None).await, Err(DbError::NotFound)));
    assert!(db.has_identity(&user.id, "local").await.expect("q"));
    assert!(!db.has_identity(&user.id, "http://lms/oauth2").await.expect("q"));
});

db_test!(course_roles_hold_per_course_and_platform, |db: Db| async move {
    use ibal_gateway::domain::CourseRole;
    let user = db.upsert_identity(&claims("iss", "ta", "ta")).await.expect("user");
    let course = |platform: &str, id: &str| CourseKey { platform: platform.into(), course_id: id.into() };
    let a = course("https://lms.example.com", "course-v1:Org+A+1");
    let b = course("https://lms.example.com", "course-v1:Org+B+1");
    let a_elsewhere = course("https://canvas.example.com|1", "course-v1:Org+A+1");
    assert_eq!(db.course_role(&user.id, &a).await.expect("q"), None);
    db.set_course_role(&user.id, &a, CourseRole::Staff).await.expect("set");
    db.set_course_role(&user.id, &b, CourseRole::Learner).await.expect("set");
    db.set_course_role(&user.id, &a_elsewhere, CourseRole::Instructor).await.expect("set");
    assert_eq!(db.course_role(&user.id, &a).await.expect("q"), Some(CourseRole::Staff));
    assert_eq!(db.course_role(&user.id, &b).await.expect("q"), Some(CourseRole::Learner));
    let mut staffed = db.staffed_courses(&user.id).await.expect("q");
    staffed.sort();
    assert_eq!(staffed, vec![a_elsewhere.clone(), a.clone()]);
    // The latest proof wins, once per course.
    db.set_course_role(&user.id, &a, CourseRole::Learner).await.expect("demote");
    assert_eq!(db.staffed_courses(&user.id).await.expect("q"), vec![a_elsewhere]);
    assert_eq!(db.count_course_members(&a).await.expect("q"), 1);
    assert_eq!(db.known_courses().await.expect("q").len(), 3);
});

db_test!(chat_settings_and_spent_tickets, |db: Db| async move {
    let block = ctx("course-v1:Org+A+1", "block-1");
    assert_eq!(db.chat_settings(&block).await.expect("q"), None);
    let settings = ChatSettings {
        title: "Helper".into(),
        instructions: "Answer in French. ‘quotes’".into(),
        controls: Controls::default(),
    };
    db.save_chat_settings(&block, &settings).await.expect("save");
    db.save_chat_settings(&block, &settings).await.expect("save again");
    assert_eq!(db.chat_settings(&block).await.expect("q"), Some(settings));
    let controls = Controls {
        starters: vec!["What is this about?".into()],
        tutor_style: TutorStyle::Direct,
        style_prompt: "Be brief.".into(),
        disclosure: Disclosure { text: "AI answers ‘may’ be wrong.".into(), version: "0123456789abcdef".into() },
        ..Controls::default()
    };
    let changed = ChatSettings { title: "Helper 2".into(), instructions: String::new(), controls };
    db.save_chat_settings(&block, &changed).await.expect("change");
    assert_eq!(db.chat_settings(&block).await.expect("q"), Some(changed), "the controls round-trip");
    assert_eq!(db.chat_settings(&ctx("course-v1:Org+A+1", "block-2")).await.expect("q"), None);

    let later = now_ms() + 60_000;
    assert!(db.spend_token("https://lms", "jti-1", later).await.expect("first"));
    assert!(!db.spend_token("https://lms", "jti-1", later).await.expect("replay"));
    assert!(db.spend_token("https://other-lms", "jti-1", later).await.expect("another issuer's"));
    assert!(db.spend_token("https://lms", "jti-old", now_ms() - 1).await.expect("expired"));
    assert_eq!(db.purge_spent_tokens().await.expect("purge"), 1);
    assert!(!db.spend_token("https://lms", "jti-1", later).await.expect("still remembered"));
});

db_test!(totals_and_roles_are_kept_per_course, |db: Db| async move {
    let user = db.upsert_identity(&claims("iss", "x", "x")).await.expect("user");
    let in_a = db.conversation_for(Owner::Room, &ctx("course-a", "b")).await.expect("room");
    let in_b = db.conversation_for(Owner::User(&user.id), &ctx("course-b", "b")).await.expect("thread");
    let staff_message =
        NewMessage { sender_role: "staff", ..NewMessage::from_user(&in_a.id, &user.id, "x", "1", "hi") };
    let stored = db.insert_message(&staff_message).await.expect("store");
    assert_eq!(stored.message.sender_role, "staff");
    assert_eq!(db.get_message(&stored.message.id).await.expect("get").sender_role, "staff");
    for i in 0..3 {
        db.insert_message(&NewMessage::from_user(&in_b.id, &user.id, "x", &format!("b{i}"), "q")).await.expect("b");
    }
    let course = |id: &str| CourseKey { platform: "http://lms/oauth2".into(), course_id: id.into() };
    assert_eq!(db.message_totals(Some(&course("course-a"))).await.expect("a").messages, 1);
    assert_eq!(db.message_totals(Some(&course("course-b"))).await.expect("b").messages, 3);
    assert_eq!(db.message_totals(Some(&course("course-c"))).await.expect("c").messages, 0);
    assert_eq!(db.message_totals(None).await.expect("all").messages, 4);
    assert_eq!(db.count_course_conversations(&course("course-a")).await.expect("q"), 1);
    assert_eq!(db.course_active_senders(&course("course-b"), 0).await.expect("q"), 1);
    assert_eq!(db.course_active_senders(&course("course-c"), 0).await.expect("q"), 0);
});

/// Moves a row back in time, as if written `days` ago.
async fn age(db: &Db, table: &str, column: &str, id: &str, days: i64) {
    let at = now_ms() - days * 24 * 3600 * 1000;
    let statement = match db.kind() {
        ibal_gateway::config::DbKind::Postgres => format!("UPDATE {table} SET {column} = $1 WHERE id = $2"),
        _ => format!("UPDATE {table} SET {column} = ? WHERE id = ?"),
    };
    sqlx::query(sqlx::AssertSqlSafe(statement)).bind(at).bind(id).execute(db.pool()).await.expect("age");
}

db_test!(retention_deletes_what_is_old_in_small_batches_and_keeps_the_rest, |db: Db| async move {
    let user = db.upsert_identity(&claims("http://lms/oauth2", "anon-r", "keeper")).await.expect("user");
    // An old conversation with five old messages, one of them rated: all of it goes.
    let old = db.conversation_for(Owner::User(&user.id), &ctx("course-v1:Org+R+1", "old")).await.expect("conv");
    for n in 0..5 {
        let client_id = format!("o{n}");
        let new = NewMessage::from_user(&old.id, &user.id, "keeper", &client_id, "old");
        let stored = db.insert_message(&new).await.expect("insert").message;
        age(&db, "messages", "created_at", &stored.id, 40).await;
        if n == 0 {
            db.set_feedback(&stored.id, &user.id, 5, "").await.expect("rate");
        }
    }
    age(&db, "conversations", "updated_at", &old.id, 40).await;
    // A conversation with an old message and a recent one: the old message goes, the rest stays.
    let mixed = db.conversation_for(Owner::User(&user.id), &ctx("course-v1:Org+R+1", "mixed")).await.expect("conv");
    let stale = db.insert_message(&NewMessage::from_user(&mixed.id, &user.id, "keeper", "m0", "stale")).await;
    age(&db, "messages", "created_at", &stale.expect("insert").message.id, 40).await;
    let fresh = db.insert_message(&NewMessage::from_user(&mixed.id, &user.id, "keeper", "m1", "fresh")).await;
    let fresh = fresh.expect("insert").message;
    db.set_feedback(&fresh.id, &user.id, 4, "").await.expect("rate");

    let cutoff = now_ms() - 30 * 24 * 3600 * 1000;
    let purged = db.purge_older_than(cutoff, 2).await.expect("purge");
    assert_eq!(purged, Purged { messages: 6, feedback: 1, conversations: 1 }, "in batches of two");
    assert!(matches!(db.get_conversation(&old.id).await, Err(DbError::NotFound)), "the emptied old one is gone");
    let kept = db.history(&mixed.id, None, 10).await.expect("history");
    assert_eq!(kept.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["fresh"]);
    assert_eq!(db.purge_older_than(cutoff, 2).await.expect("again"), Purged::default(), "a second run finds nothing");
});

db_test!(one_replica_at_a_time_holds_a_lease, |db: Db| async move {
    assert!(db.try_lease("retention", "replica-a", 60_000).await.expect("a"));
    assert!(!db.try_lease("retention", "replica-b", 60_000).await.expect("b waits"));
    assert!(db.try_lease("retention", "replica-a", 60_000).await.expect("a renews"));
    assert!(db.try_lease("other-job", "replica-b", 60_000).await.expect("another job is another lease"));
    // An expired lease is anyone's.
    assert!(db.try_lease("short", "replica-a", -1).await.expect("a, already expired"));
    assert!(db.try_lease("short", "replica-b", 60_000).await.expect("b takes over"));
    assert!(!db.try_lease("short", "replica-a", 60_000).await.expect("a waits now"));
});

db_test!(retention_runs_on_the_replica_holding_the_lease, |db: Db| async move {
    use ibal_gateway::app::serve::apply_retention;
    let keep = std::time::Duration::from_secs(30 * 24 * 3600);
    assert_eq!(apply_retention(&db, keep, "replica-a").await.expect("a"), Some(Purged::default()));
    assert_eq!(apply_retention(&db, keep, "replica-b").await.expect("b"), None, "b skips while a holds the lease");
});

db_test!(moderation_hides_mutes_pins_and_keeps_the_audit, |db: Db| async move {
    let course = CourseKey { platform: "http://lms/oauth2".into(), course_id: "course-m".into() };
    let (learner, teacher) = (
        db.upsert_identity(&claims("iss", "l", "lea")).await.expect("user"),
        db.upsert_identity(&claims("iss", "t", "tom")).await.expect("user"),
    );
    let room = db.conversation_for(Owner::Room, &ctx("course-m", "b1")).await.expect("room");
    let thread = db.conversation_for(Owner::User(&learner.id), &ctx("course-m", "b1")).await.expect("thread");
    let said = db.insert_message(&NewMessage::from_user(&room.id, &learner.id, "lea", "1", "rude words")).await;
    let said = said.expect("store").message;
    let own = NewMessage::from_user(&thread.id, &learner.id, "lea", "2", "my own question");
    let private = db.insert_message(&own).await.expect("store").message;
    let by_tom = |action, minutes| NewModeration {
        course: &course,
        conversation_id: Some(&room.id),
        actor_id: &teacher.id,
        actor_name: "tom",
        action,
        message_id: Some(&said.id),
        target_user_id: Some(&learner.id),
        minutes,
    };
    let actions = |db: Db, course: CourseKey| async move {
        db.moderation_log(&course, 20).await.expect("log").into_iter().map(|e| e.action).collect::<Vec<_>>()
    };

    // Only the course's rooms' messages are moderated.
    assert_eq!(db.course_room_message(&course, &said.id).await.expect("in the room").id, said.id);
    assert!(matches!(db.course_room_message(&course, &private.id).await, Err(DbError::NotFound)));
    let elsewhere = CourseKey { course_id: "course-x".into(), ..course.clone() };
    assert!(matches!(db.course_room_message(&elsewhere, &said.id).await, Err(DbError::NotFound)));

    // Hidden, with its text kept, once (hiding it again changes and records nothing); shown again.
    let hidden = db.set_message_hidden(&said.id, true, &by_tom(ModerationAction::Hide, None)).await.expect("hide");
    let hidden = hidden.expect("hidden now");
    assert!(hidden.hidden_at.is_some() && hidden.content == "rude words");
    assert!(db.set_message_hidden(&said.id, true, &by_tom(ModerationAction::Hide, None)).await.expect("q").is_none());
    assert!(db.history(&room.id, None, 10).await.expect("history")[0].hidden_at.is_some());
    let shown = db.set_message_hidden(&said.id, false, &by_tom(ModerationAction::Restore, None)).await.expect("q");
    assert!(shown.expect("shown now").hidden_at.is_none());
    let listed = db.recent_room_messages(&course, Some("b1"), 10).await.expect("list");
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [said.id.as_str()], "rooms only");
    assert!(db.recent_room_messages(&course, Some("b2"), 10).await.expect("list").is_empty());

    // Muted until a time; a later mute replaces the first; lifted once.
    let soon = now_ms() + 60_000;
    db.mute(&course, &learner.id, soon, &by_tom(ModerationAction::Mute, Some(1))).await.expect("mute");
    db.mute(&course, &learner.id, soon + 60_000, &by_tom(ModerationAction::Mute, Some(2))).await.expect("longer");
    assert_eq!(db.muted_until(&course, &learner.id).await.expect("read"), Some(soon + 60_000));
    assert_eq!(db.muted_until(&elsewhere, &learner.id).await.expect("read"), None, "one course's rooms");
    assert_eq!(db.course_mutes(&course).await.expect("list").len(), 1);
    assert!(db.unmute(&course, &learner.id, &by_tom(ModerationAction::Unmute, None)).await.expect("lift"));
    assert!(!db.unmute(&course, &learner.id, &by_tom(ModerationAction::Unmute, None)).await.expect("lifted"));
    db.mute(&course, &learner.id, now_ms() - 1, &by_tom(ModerationAction::Mute, Some(0))).await.expect("ended");
    assert_eq!(db.muted_until(&course, &learner.id).await.expect("read"), None, "an ended mute holds no one");

    // One pin per room; unpinned once.
    db.set_pin(&room.id, "First", "tom", &by_tom(ModerationAction::Pin, None)).await.expect("pin");
    db.set_pin(&room.id, "Second", "tom", &by_tom(ModerationAction::Pin, None)).await.expect("pin again");
    assert_eq!(db.pin(&room.id).await.expect("read").map(|p| p.content), Some("Second".to_owned()));
    assert!(db.clear_pin(&room.id, &by_tom(ModerationAction::Unpin, None)).await.expect("unpin"));
    assert!(!db.clear_pin(&room.id, &by_tom(ModerationAction::Unpin, None)).await.expect("unpinned already"));
    assert_eq!(db.pin(&room.id).await.expect("read"), None);

    // The audit: each change once, newest first, with the room's block; nothing for what changed nothing.
    assert_eq!(
        actions(db.clone(), course.clone()).await,
        ["unpin", "pin", "pin", "mute", "unmute", "mute", "mute", "restore", "hide"]
    );
    let log = db.moderation_log(&course, 20).await.expect("log");
    let mute = log.iter().find(|e| e.action == "mute" && e.minutes == Some(2)).expect("the longer mute");
    assert_eq!((mute.block_id.as_deref(), mute.target_user_id.as_deref()), (Some("b1"), Some(learner.id.as_str())));
    assert!(db.moderation_log(&elsewhere, 10).await.expect("log").is_empty());
    assert_eq!(db.course_rooms(&course).await.expect("rooms").len(), 1);
});
