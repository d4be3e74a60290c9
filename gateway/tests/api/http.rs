//! The router, driven in-process with `oneshot`: pages, security headers, errors, CORS, metrics.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{get, send, test_app};

/// The nonces on the page's script and style tags.
fn tag_nonces(html: &str) -> Vec<String> {
    html.match_indices("nonce=\"")
        .map(|(i, m)| html[i + m.len()..].split('"').next().unwrap_or_default().to_owned())
        .collect()
}

fn csp_nonce(csp: &str) -> String {
    csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("CSP carries a nonce").to_owned()
}

#[tokio::test]
async fn health_is_ok_and_does_no_io() {
    let (app, _state, test_db) = test_app(&[]).await;
    test_db.db.close().await; // even with the database gone, the process is alive
    let (status, headers, body) = send(&app, get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn ready_reports_the_database() {
    let (app, _state, test_db) = test_app(&[]).await;
    let (status, _, body) = send(&app, get("/ready")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    test_db.db.close().await;
    let (status, _, body) = send(&app, get("/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("\"database\":\"unavailable\""), "{body}");
}

#[tokio::test]
async fn home_page_nonce_matches_its_script_tags_and_changes_per_request() {
    let (app, _state, _db) = test_app(&[]).await;
    let (status, headers, html) = send(&app, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii").to_owned();
    let nonce = csp_nonce(&csp);
    let tags = tag_nonces(&html);
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")), "script carries the CSP nonce");
    assert!(
        !tags.is_empty() && tags.iter().all(|t| *t == nonce),
        "every tag nonce equals the header's: {tags:?} vs {nonce}"
    );
    assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(csp.contains("connect-src 'self' ws://localhost:8000"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "the home page is not framable: {csp}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY), "no HSTS over plain http");

    let (_, headers2, _) = send(&app, get("/")).await;
    assert_ne!(
        csp_nonce(headers2[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii")),
        nonce,
        "a fresh nonce per request"
    );
}

#[tokio::test]
async fn https_public_url_adds_hsts() {
    let (app, _state, _db) = test_app(&[("PUBLIC_URL", "https://chat.example.com")]).await;
    let (_, headers, _) = send(&app, get("/health")).await;
    assert_eq!(headers[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000; includeSubDomains");
    let (_, headers, _) = send(&app, get("/")).await;
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii").contains("wss://chat.example.com"));
}

#[tokio::test]
async fn unknown_pages_render_the_error_page_and_api_paths_answer_json() {
    let (app, _state, _db) = test_app(&[]).await;
    let (status, headers, html) = send(&app, get("/no/such/page")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/html"));
    assert!(html.contains("Page not found"), "{html}");
    let request_id = headers["x-request-id"].to_str().expect("ascii");
    assert!(html.contains(request_id), "the page shows the request id for support");
    let nonce = csp_nonce(headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii"));
    assert!(tag_nonces(&html).iter().all(|t| *t == nonce));

    let (status, headers, body) = send(&app, get("/api/v1/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["error"]["code"], "not_found");
    assert!(json["error"]["message"].is_string());
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], "default-src 'none'; frame-ancestors 'none'");
}

/// A request whose body or query cannot be read gets the layer's own error shape, never axum's plain text.
#[tokio::test]
async fn malformed_input_is_answered_in_each_layers_shape() {
    let (app, _state, _db) = test_app(&[]).await;
    let post = |uri: &str, content_type: Option<&str>, body: &'static str| {
        let mut request = Request::post(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.body(Body::from(body)).expect("request")
    };
    let api_error = |status: StatusCode, headers: &axum::http::HeaderMap, body: &str| {
        assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("application/json"), "{body}");
        let json: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
        (status, json["error"]["code"].as_str().expect("a code").to_owned(), json["error"]["message"].clone())
    };

    let cases = [
        (Some("application/json"), "{\"username\": ", StatusCode::BAD_REQUEST, "invalid_json"),
        (Some("application/json"), "{\"username\": \"ada\"}", StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (Some("text/plain"), "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    ];
    for (content_type, body, want_status, want_code) in cases {
        let (status, headers, text) = send(&app, post("/api/v1/auth/login", content_type, body)).await;
        let (status, code, message) = api_error(status, &headers, &text);
        assert_eq!((status, code.as_str()), (want_status, want_code), "{body}");
        assert!(message.as_str().is_some_and(|m| !m.is_empty()));
    }
    // The missing field is named, so a client can fix its request.
    let (_, _, text) = send(&app, post("/api/v1/auth/login", Some("application/json"), "{\"username\":\"ada\"}")).await;
    assert!(text.contains("password"), "{text}");

    // The OAuth token endpoint answers in RFC 6749's shape.
    let (status, headers, text) = send(&app, post("/oauth2/token", None, "grant_type=refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["error"], "invalid_request", "{text}");

    // Pages answer the error page.
    let (status, headers, html) = send(&app, post("/lti/launch", None, "id_token=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/html"), "{html}");
    assert!(html.contains("This launch cannot be completed"), "{html}");
    let (status, headers, html) = send(&app, get("/oauth/openedx/callback?state=a&state=b")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/html"), "{html}");
    assert!(html.contains("This address is not complete"), "{html}");
}

#[tokio::test]
async fn api_info_names_the_open_doors() {
    let (app, _state, _db) = test_app(&[]).await;
    let (status, _, body) = send(&app, get("/api/v1/info")).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["chat_backend"], "room");
    assert_eq!(json["auth"]["local_accounts"], true);
    assert_eq!(json["auth"]["openedx"], false);
    assert_eq!(json["ws_url"], "ws://localhost:8000/ws/chat/");
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let (app, _state, _db) = test_app(&[("ALLOWED_ORIGINS", "http://lms.example.com")]).await;
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/api/v1/info")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, _) = send(&app, preflight("http://lms.example.com")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://lms.example.com");
    let (_, headers, _) = send(&app, preflight("http://evil.example.com")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "an unlisted origin gets no CORS grant");
    let simple = Request::get("/api/v1/info")
        .header(header::ORIGIN, "http://lms.example.com")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(&app, simple).await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://lms.example.com");
}

/// The widget's "My data" menu calls these from the course's pages, another origin.
#[tokio::test]
async fn the_learners_own_data_api_answers_the_lms_pages_preflight() {
    let (app, _state, _db) = test_app(&[("ALLOWED_ORIGINS", "http://lms.example.com")]).await;
    for (path, method) in [("/api/v1/me/export", "GET"), ("/api/v1/me", "DELETE")] {
        let preflight = Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header(header::ORIGIN, "http://lms.example.com")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request");
        let (status, headers, _) = send(&app, preflight).await;
        assert!(status.is_success(), "{path}: {status}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://lms.example.com", "{path}");
    }
    // The service API stays without a CORS grant: no browser calls it.
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/api/v1/retirement")
        .header(header::ORIGIN, "http://lms.example.com")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(&app, preflight).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let (app, _state, _db) = test_app(&[]).await;
    let count = |text: &str, needle: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let health = "ibal_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}";
    let (_, _, before) = send(&app, get("/metrics")).await;
    for _ in 0..3 {
        send(&app, get("/health")).await;
    }
    send(&app, get("/nope")).await;
    let (status, headers, after) = send(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("application/openmetrics-text"));
    assert_eq!(count(&after, health), count(&before, health) + 3, "{after}");
    assert_eq!(count(&after, "ibal_http_requests_total{method=\"GET\",route=\"<unmatched>\",status=\"404\"}"), 1);
    assert!(after.contains("ibal_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/health\"}"), "{after}");
    assert!(after.ends_with("# EOF\n"));
}

#[tokio::test]
async fn metrics_can_be_restricted_to_a_bearer_token() {
    let (app, _state, _db) = test_app(&[("METRICS_TOKEN", "scrape-token-of-some-length")]).await;
    let with = |token: Option<&str>| {
        let mut request = Request::get("/metrics");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Body::empty()).expect("request")
    };
    assert_eq!(send(&app, with(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&app, with(Some("wrong"))).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, text) = send(&app, with(Some("scrape-token-of-some-length"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("ibal_fanout_rejected_total 0"), "{text}");
}

#[tokio::test]
async fn allowed_hosts_refuse_other_hosts_but_not_probes() {
    let (app, _state, _db) = test_app(&[("ALLOWED_HOSTS", "chat.example.com,.internal")]).await;
    let with_host =
        |uri: &str, host: &str| Request::get(uri).header(header::HOST, host).body(Body::empty()).expect("request");
    assert_eq!(send(&app, with_host("/", "chat.example.com:8190")).await.0, StatusCode::OK);
    assert_eq!(send(&app, with_host("/", "llm.internal")).await.0, StatusCode::OK);
    let (status, _, body) = send(&app, with_host("/", "evil.example.com")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_host"));
    assert_eq!(send(&app, with_host("/health", "10.0.0.7:8000")).await.0, StatusCode::OK, "probes pass any Host");
}

#[tokio::test]
async fn the_widget_is_served_at_its_versioned_path_with_cors_and_immutable_caching() {
    use ibal_gateway::web::widget::{VERSION, embedded};
    if std::env::var("IBAL_REQUIRE_WIDGET").is_ok_and(|v| v == "1") {
        assert!(embedded(), "the test command builds the widget before the gateway, so it must be embedded");
    }
    let (app, _state, _db) = test_app(&[("ALLOWED_ORIGINS", "http://lms.example.com")]).await;
    let request = |path: String| {
        Request::get(path).header(header::ORIGIN, "http://lms.example.com").body(Body::empty()).expect("request")
    };
    let (status, headers, body) = send(&app, request(format!("/static/widget/{VERSION}/ibal_widget_bg.wasm"))).await;
    if !embedded() {
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("widget_not_built"), "{body}");
        let (_, _, home) = send(&app, get("/")).await;
        assert!(home.contains("built without the chat widget"));
        return;
    }
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://lms.example.com", "the LMS page may import it");
    assert!(body.as_bytes().starts_with(b"\0asm"));
    let (status, headers, js) = send(&app, request(format!("/static/widget/{VERSION}/ibal_widget.js"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/javascript"));
    assert!(js.contains("export function mount"), "the module exports mount");
    let (status, headers, _) = send(&app, request(format!("/static/widget/{VERSION}/ibal_widget.css"))).await;
    assert_eq!(
        (status, headers[header::CONTENT_TYPE].to_str().expect("ascii")),
        (StatusCode::OK, "text/css; charset=utf-8")
    );
    assert_eq!(
        send(&app, request("/static/widget/0.0.0/ibal_widget.js".into())).await.0,
        StatusCode::NOT_FOUND,
        "other versions are not served"
    );
    assert_eq!(send(&app, request(format!("/static/widget/{VERSION}/secret.txt"))).await.0, StatusCode::NOT_FOUND);
    // The standalone page mounts the same widget, in local-account mode by default.
    let (_, _, home) = send(&app, get("/")).await;
    assert!(home.contains("widget.mount(mountPoint, settings)"));
    assert!(home.contains(&format!("/static/widget/{VERSION}/ibal_widget.js")));
    let settings_at = home.find("id=\"ibal-settings\"").expect("settings");
    let json = &home[settings_at..];
    let json = &json[json.find('>').expect("tag") + 1..json.find("</script>").expect("end")];
    let settings: serde_json::Value = serde_json::from_str(json).expect("settings JSON");
    assert_eq!(settings["auth_mode"], "local");
    assert_eq!(settings["widget_url"], format!("http://localhost:8000/static/widget/{VERSION}/ibal_widget.js"));
}
