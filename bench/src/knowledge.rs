//! Scenario 7, course knowledge: a generated course pushed through the course index API as the LMS's
//! service client pushes it, then learners' questions through its search API (the retrieval the chat
//! does before each assistant reply). Measures the indexing rate, what the course takes in SQLite, the
//! first question (which builds the replica's in-memory BM25 index) and the latency of the next ones.
//!
//! The course is generated from a fixed seed: 2,000 html blocks of about 1,000 characters (≈2 MB), in
//! 10 sections × 5 subsections × 8 units × 5 blocks. Its words are pseudo-words drawn from a vocabulary
//! of 3,000 with Zipf–Mandelbrot frequencies (common words in most passages, rare ones in a few), English
//! stop words, and topic words: each section has eight, which its blocks use often and other sections
//! rarely, so that a question's terms are as selective as in a real course.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ibal_test_kit::service;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::gateway::Gateway;
use crate::scenarios::Ctx;
use crate::stats::{Outcome, Row, Samples, Verdict, percentile, ratio, truncate};

const COURSE: &str = "course-v1:IBAL+BENCH+2026";
const COURSE_KEY: &str = "IBAL+BENCH+2026";
/// The course id percent-encoded as one path segment, as the LMS client sends it.
const COURSE_PATH: &str = "/api/v1/index/courses/course-v1%3AIBAL%2BBENCH%2B2026";
/// A course that is not in the index: the same authenticated GET, answered without ranking.
const UNINDEXED_PATH: &str = "/api/v1/index/courses/course-v1%3AIBAL%2BNONE%2B2026";
const COURSE_TITLE: &str = "Foundations of Biology (bench)";

const SECTIONS: usize = 10;
const SUBSECTIONS: usize = 5;
const UNITS: usize = 8;
const BLOCKS_PER_UNIT: usize = 5;
const BLOCKS: usize = SECTIONS * SUBSECTIONS * UNITS * BLOCKS_PER_UNIT;
/// A block's text stops at the first sentence end past this many characters (≈1,000 on average).
const BLOCK_CHARS: usize = 950;
const VOCABULARY: usize = 3_000;
/// Blocks per `PUT …/blocks`: the API's most, as the LMS client sends them.
const BATCH: usize = 200;
const QUESTIONS: usize = 2_000;
/// Questions in flight: a few learners asking at once.
const IN_FLIGHT: usize = 4;
/// Passages per question, as the search API's default.
const LIMIT: &str = "5";
/// Every request loop ends by this time, whatever is left.
const LOAD_LIMIT: Duration = Duration::from_secs(120);

const COURSE_SEED: u64 = 0x1ba1_c0de_2026;
const QUESTION_SEED: u64 = 0x1ba1_a5c5_2026;

/// The service client's secret (ibal_test_kit::service has the rest of it, as the Tutor plugin registers it).
const SERVICE_SECRET: &str = "ibal-bench-service-secret-not-a-real-one";

/// Each section's topic: its title and its eight topic words.
const TOPICS: [(&str, [&str; 8]); SECTIONS] = [
    (
        "Cells and organelles",
        ["membrane", "cytoplasm", "nucleus", "organelle", "ribosome", "vesicle", "cytoskeleton", "lysosome"],
    ),
    (
        "Cellular energy",
        ["mitochondria", "glycolysis", "respiration", "pyruvate", "oxidation", "gradient", "electron", "atp"],
    ),
    (
        "Photosynthesis",
        ["chloroplast", "chlorophyll", "thylakoid", "photon", "stroma", "carbon", "fixation", "pigment"],
    ),
    (
        "Genetics",
        ["chromosome", "allele", "genotype", "phenotype", "mutation", "inheritance", "recombination", "locus"],
    ),
    (
        "Molecular biology",
        ["transcription", "translation", "polymerase", "promoter", "codon", "splicing", "replication", "helicase"],
    ),
    ("Enzymes", ["enzyme", "substrate", "catalyst", "inhibitor", "kinetics", "cofactor", "activation", "equilibrium"]),
    ("Evolution", ["selection", "adaptation", "speciation", "fitness", "drift", "population", "lineage", "fossil"]),
    (
        "Ecology",
        ["ecosystem", "predator", "biomass", "habitat", "nutrient", "decomposer", "succession", "biodiversity"],
    ),
    ("Physiology", ["neuron", "synapse", "hormone", "receptor", "homeostasis", "kidney", "insulin", "antibody"]),
    ("Microbiology", ["bacteria", "virus", "plasmid", "antibiotic", "pathogen", "colony", "fermentation", "spore"]),
];

/// Common English words, about three tokens in ten as in prose (the gateway drops them at indexing).
const STOPWORDS: [&str; 20] = [
    "the", "of", "and", "a", "to", "in", "is", "that", "for", "with", "as", "on", "by", "this", "are", "from", "it",
    "be", "or", "an",
];

// ---------------------------------------------------------------------------------------------
// The generated course.

/// SplitMix64: a small deterministic generator (no dependency; the same course on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Zipf–Mandelbrot offset of the vocabulary's frequencies, 1 / (rank + offset): the commonest content word
/// is about 2% of a text's words (in most passages, not in every sentence: the stop words are the commonest
/// words of prose), a word of rank 100 in about a passage in six, of rank 1,000 in one in fifty.
const ZIPF_OFFSET: usize = 10;

/// The pseudo-word vocabulary, in rank order, with Zipf–Mandelbrot frequencies.
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn generate(rng: &mut Rng, n: usize) -> Self {
        const ONSETS: [&str; 24] = [
            "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl", "dr", "gr", "pl", "st",
            "tr", "ch", "th", "sh",
        ];
        const VOWELS: [&str; 9] = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"];
        const CODAS: [&str; 8] = ["", "", "", "n", "r", "l", "m", "nd"];
        let taken = |w: &str| STOPWORDS.contains(&w) || TOPICS.iter().any(|(_, words)| words.contains(&w));
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(n);
        // Bounded: far more attempts than 3,000 distinct words of 2 to 3 syllables need.
        for _ in 0..n * 100 {
            if words.len() == n {
                break;
            }
            let mut w = String::new();
            for _ in 0..2 + rng.below(2) {
                w.push_str(rng.pick(&ONSETS));
                w.push_str(rng.pick(&VOWELS));
                w.push_str(rng.pick(&CODAS));
            }
            if !taken(&w) && seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += 1.0 / (rank + 1 + ZIPF_OFFSET) as f64;
                total
            })
            .collect();
        Self { words, cumulative }
    }

    /// A word drawn with its frequency.
    fn draw(&self, rng: &mut Rng) -> &str {
        let x = rng.unit() * self.cumulative.last().copied().unwrap_or(0.0);
        let at = self.cumulative.partition_point(|&c| c < x);
        &self.words[at.min(self.words.len() - 1)]
    }
}

fn capitalized(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// A sentence of 8 to 18 words in `section`'s voice.
fn sentence(rng: &mut Rng, vocabulary: &Vocabulary, section: usize) -> String {
    let words: Vec<&str> = (0..8 + rng.below(11))
        .map(|_| {
            let r = rng.unit();
            if r < 0.28 {
                rng.pick(&STOPWORDS)
            } else if r < 0.34 {
                rng.pick(&TOPICS[section].1)
            } else if r < 0.35 {
                let other = rng.below(SECTIONS);
                rng.pick(&TOPICS[other].1)
            } else {
                vocabulary.draw(rng)
            }
        })
        .collect();
    format!("{}.", capitalized(&words.join(" ")))
}

/// Text of about 1,000 characters: sentences in paragraphs of four.
fn block_text(rng: &mut Rng, vocabulary: &Vocabulary, section: usize) -> String {
    let mut text = String::with_capacity(BLOCK_CHARS + 200);
    let mut in_paragraph = 0;
    while text.len() < BLOCK_CHARS {
        if in_paragraph == 4 {
            text.push_str("\n\n");
            in_paragraph = 0;
        } else if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&sentence(rng, vocabulary, section));
        in_paragraph += 1;
    }
    text
}

/// FNV-1a, 64 bits: the block's content hash (the client's own hash; any stable one does).
fn fnv1a(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

struct Course {
    /// The `PUT …/blocks` bodies, serialized: 200 blocks each.
    bodies: Vec<String>,
    text_bytes: u64,
    vocabulary: Vocabulary,
    /// The blocks each word occurs in (text and titles), to tell how selective the questions are.
    occurs: HashMap<String, Vec<u32>>,
}

/// The words of `text` as the gateway reads them, near enough for the generated course: split on what is
/// not a letter or a digit, lowercased, stop words left out.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
}

impl Course {
    /// How many blocks hold at least one of the question's words: the passages BM25 scores for it.
    fn candidates(&self, question: &str) -> usize {
        let mut hit = vec![false; BLOCKS];
        for word in words(question) {
            for &b in self.occurs.get(&word).map(Vec::as_slice).unwrap_or_default() {
                hit[b as usize] = true;
            }
        }
        hit.iter().filter(|&&h| h).count()
    }
}

fn generate_course() -> Course {
    let mut rng = Rng(COURSE_SEED);
    let vocabulary = Vocabulary::generate(&mut rng, VOCABULARY);
    let mut blocks = Vec::with_capacity(BLOCKS);
    let mut text_bytes = 0;
    let mut occurs: HashMap<String, Vec<u32>> = HashMap::new();
    for (s, &(topic, topic_words)) in TOPICS.iter().enumerate() {
        let section = format!("Section {}: {topic}", s + 1);
        for ss in 0..SUBSECTIONS {
            let subsection = format!(
                "{}.{} {} {}",
                s + 1,
                ss + 1,
                capitalized(topic_words[ss % topic_words.len()]),
                vocabulary.draw(&mut rng)
            );
            for u in 0..UNITS {
                let unit = format!(
                    "Unit {}.{}.{}: {} {}",
                    s + 1,
                    ss + 1,
                    u + 1,
                    capitalized(vocabulary.draw(&mut rng)),
                    rng.pick(&topic_words)
                );
                for b in 0..BLOCKS_PER_UNIT {
                    let n = blocks.len();
                    let usage_id = format!("block-v1:{COURSE_KEY}+type@html+block@b{n:05}");
                    let display_name = format!("{} {}", capitalized(vocabulary.draw(&mut rng)), b + 1);
                    let text = block_text(&mut rng, &vocabulary, s);
                    text_bytes += text.len() as u64;
                    for place in [section.as_str(), &subsection, &unit, &display_name, &text, COURSE_TITLE] {
                        for word in words(place) {
                            let blocks = occurs.entry(word).or_default();
                            if blocks.last() != Some(&(n as u32)) {
                                blocks.push(n as u32);
                            }
                        }
                    }
                    let hash = fnv1a(&[&usage_id, &display_name, &section, &subsection, &unit, &text]);
                    blocks.push(json!({
                        "usage_id": usage_id,
                        "block_type": "html",
                        "display_name": display_name,
                        "breadcrumb": [COURSE_TITLE, section, subsection, unit],
                        "text": text,
                        "start": "2026-01-05T09:00:00Z",
                        "staff_only": false,
                        "group_access": {},
                        "url": format!("https://lms.bench.test/courses/{COURSE}/jump_to/{usage_id}"),
                        "position": n,
                        "hash": hash,
                    }));
                }
            }
        }
    }
    let bodies =
        blocks.chunks(BATCH).map(|chunk| json!({"course_title": COURSE_TITLE, "blocks": chunk}).to_string()).collect();
    Course { bodies, text_bytes, vocabulary, occurs }
}

/// A learner's question of a few words: a topic word and one or two words of the course, drawn with the
/// frequencies they have in its text.
fn questions(vocabulary: &Vocabulary, n: usize) -> Vec<String> {
    let mut rng = Rng(QUESTION_SEED);
    (0..n)
        .map(|_| {
            let section = rng.below(SECTIONS);
            let topic = rng.pick(&TOPICS[section].1);
            let (w1, w2) = (vocabulary.draw(&mut rng).to_owned(), vocabulary.draw(&mut rng));
            match rng.below(4) {
                0 => format!("What is the role of {topic} in {w1}?"),
                1 => format!("How does {w1} {topic} change the {w2}?"),
                2 => format!("Explain {topic} and {w1} {w2}"),
                _ => format!("Why is {w1} important for {topic}?"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scenario.

pub async fn knowledge(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let generated = Instant::now();
    let course = generate_course();
    let asked = questions(&course.vocabulary, QUESTIONS);
    let mut candidates: Vec<u64> = asked.iter().map(|q| course.candidates(q) as u64).collect();
    candidates.sort_unstable();
    let generated = generated.elapsed();
    let json_bytes: usize = course.bodies.iter().map(String::len).sum();

    let dir = ctx.dir("knowledge");
    let db = dir.join("ibal.db");
    let gw = ctx.gateway(dir, &[]).await?;
    let result = measure(&gw, &db, &course, &asked, &mut out).await;
    gw.stop().await;
    let m = result?;

    out.rows.push(Row::new(
        format!("7. course indexing, {BLOCKS} blocks ({:.1} MB text), PUTs of {BATCH}", mb(course.text_bytes)),
        format!("{:.0} blocks/s", m.index_rate),
        format!("{:.0} blocks/s (same PUTs again, unchanged: no block written)", m.unchanged_rate),
        ratio(m.index_rate, m.unchanged_rate),
        "≥ 500 blocks/s",
        Verdict::of(m.index_rate >= 500.0),
    ));
    let size_row = format!("7. index size in SQLite, {BLOCKS} blocks");
    match &m.after {
        Some(after) => out.rows.push(Row::new(
            size_row,
            format!("{:.1} MB database ({:.1} MB course_blocks)", mb(after.database), mb(after.table)),
            format!("{:.1} MB of block text", mb(course.text_bytes)),
            ratio(after.table as f64, course.text_bytes as f64),
            "report (no figure set)",
            Verdict::Info,
        )),
        None => out.rows.push(Row::new(size_row, "not measured", "—", f64::NAN, "—", Verdict::Miss)),
    }
    let (mut search, mut floor) = (m.search, m.unindexed);
    let (s50, s99) = (search.samples.percentile_us(50.0) / 1000.0, search.samples.percentile_us(99.0) / 1000.0);
    let (f50, f99) = (floor.samples.percentile_us(50.0) / 1000.0, floor.samples.percentile_us(99.0) / 1000.0);
    out.rows.push(Row::new(
        "7. first question (builds the in-memory index)",
        format!("{:.1} ms", m.cold_ms),
        format!("{s50:.2} ms (p50 of the next {QUESTIONS})"),
        ratio(m.cold_ms, s50),
        "report (no figure set)",
        Verdict::Info,
    ));
    let complete = search.ok == QUESTIONS && search.failed.is_empty();
    out.rows.push(Row::new(
        format!("7. retrieval p99, {} questions, {IN_FLIGHT} in flight", search.ok),
        format!("{s99:.2} ms (p50 {s50:.2})"),
        format!("{f99:.2} ms (p50 {f50:.2}; same GETs, course not indexed)"),
        ratio(s99, f99),
        "p99 ≤ 20 ms",
        Verdict::of(s99 <= 20.0 && complete),
    ));

    let (mut health, secs) = (m.health, |d: Duration| d.as_secs_f64());
    out.notes.push(format!(
        "knowledge: course generated in {:.2} s (seeded): {BLOCKS} html blocks, {SECTIONS} sections × {SUBSECTIONS} \
         subsections × {UNITS} units × {BLOCKS_PER_UNIT} blocks, {} bytes of text ({} per block), {VOCABULARY} \
         pseudo-words with Zipf–Mandelbrot frequencies + {} topic words; {} PUTs, {} bytes of JSON",
        secs(generated),
        course.text_bytes,
        course.text_bytes / BLOCKS as u64,
        SECTIONS * 8,
        course.bodies.len(),
        json_bytes
    ));
    out.notes.push(format!(
        "knowledge questions: {QUESTIONS} of a few words (a topic word and one or two course words drawn with their \
         frequencies in the text); the blocks holding one of a question's words, which BM25 scores: median {}, p90 \
         {}, max {} of {BLOCKS}",
        percentile(&candidates, 50.0),
        percentile(&candidates, 90.0),
        percentile(&candidates, 100.0),
    ));
    out.notes.push(format!(
        "knowledge indexing: {BLOCKS} blocks stored in {:.2} s, PUT latency p50 {:.0} ms / max {:.0} ms; the same \
         PUTs again (hashes unchanged) {:.2} s; database {} → {} bytes (page count × page size; on disk now {} \
         bytes with the WAL); course_blocks and its key {} bytes in pages, {} of them unused",
        secs(m.index_time),
        m.put_latency.clone().percentile_us(50.0) / 1000.0,
        m.put_latency.clone().percentile_us(100.0) / 1000.0,
        secs(m.unchanged_time),
        m.db_before,
        m.after.as_ref().map_or(0, |a| a.database),
        m.on_disk,
        m.after.as_ref().map_or(0, |a| a.table),
        m.after.as_ref().map_or(0, |a| a.unused),
    ));
    out.notes.push(format!(
        "knowledge retrieval: {} questions in {:.2} s ({:.0}/s, limit {LIMIT}), {} passages returned ({:.2} per \
         question), {} with none; gateway RSS {} → {} KiB across the first question, {} KiB after all; the gateway \
         used {:.0}% of one core during the questions; GET /health ({}, {IN_FLIGHT} in flight) p50 {:.2} ms / p99 \
         {:.2} ms",
        search.ok,
        secs(search.elapsed),
        search.ok as f64 / secs(search.elapsed).max(1e-9),
        search.passages,
        search.passages as f64 / search.ok.max(1) as f64,
        search.empty,
        m.rss_before_cold,
        m.rss_after_cold,
        m.rss_after,
        m.cpu_share * 100.0,
        health.ok,
        health.samples.percentile_us(50.0) / 1000.0,
        health.samples.percentile_us(99.0) / 1000.0,
    ));
    for (what, load) in [("questions", &search), ("unindexed GETs", &floor), ("GET /health", &health)] {
        if let Some(e) = load.failed.first() {
            out.notes.push(format!("knowledge {what}: {} failed, first: {}", load.failed.len(), truncate(e)));
        }
    }
    Ok(out)
}

struct Measured {
    index_rate: f64,
    index_time: Duration,
    put_latency: Samples,
    unchanged_rate: f64,
    unchanged_time: Duration,
    db_before: u64,
    after: Option<Sizes>,
    on_disk: u64,
    cold_ms: f64,
    rss_before_cold: u64,
    rss_after_cold: u64,
    rss_after: u64,
    cpu_share: f64,
    search: GetLoad,
    unindexed: GetLoad,
    health: GetLoad,
}

async fn measure(
    gw: &Gateway,
    db: &Path,
    course: &Course,
    asked: &[String],
    out: &mut Outcome,
) -> Result<Measured, String> {
    let token = service_token(gw).await?;
    let db_before = sqlite_sizes(db).map(|s| s.database).unwrap_or(0);

    // Indexing: the PUTs one after the other, as the LMS client sends a course.
    let mut put_latency = Samples::default();
    let started = Instant::now();
    for body in &course.bodies {
        let t0 = Instant::now();
        let counts = put_blocks(gw, &token, body).await?;
        put_latency.record(t0.elapsed());
        if counts != (BATCH as u64, 0) {
            return Err(format!("a PUT of {BATCH} new blocks answered stored/unchanged {counts:?}"));
        }
    }
    let index_time = started.elapsed();
    // The baseline: the same calls again, whose blocks all keep their hashes (read, checked, not written).
    let started = Instant::now();
    for body in &course.bodies {
        let counts = put_blocks(gw, &token, body).await?;
        if counts != (0, BATCH as u64) {
            return Err(format!("a repeated PUT answered stored/unchanged {counts:?}, not (0, {BATCH})"));
        }
    }
    let unchanged_time = started.elapsed();
    let after = sqlite_sizes(db).map_err(|e| out.notes.push(format!("knowledge: database size not read: {e}"))).ok();
    let on_disk = ["ibal.db", "ibal.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(db.with_file_name(f)).ok())
        .map(|m| m.len())
        .sum();

    // The first question builds the replica's index of the course.
    let rss_before_cold = gw.rss_kib().unwrap_or(0);
    let cold = get_load(&gw.http, Arc::new(vec![search_url(gw, COURSE_PATH, &asked[0])?]), Some(&token), 1).await;
    if cold.ok != 1 || cold.passages == 0 {
        let why = cold.failed.first().cloned().unwrap_or_else(|| "no passage found".into());
        return Err(format!("the first question: {}", truncate(&why)));
    }
    let cold_ms = cold.samples.clone().percentile_us(100.0) / 1000.0;
    let rss_after_cold = gw.rss_kib().unwrap_or(0);

    let urls: Vec<reqwest::Url> = asked.iter().map(|q| search_url(gw, COURSE_PATH, q)).collect::<Result<_, _>>()?;
    let cpu_before = gw.cpu_seconds();
    let search = get_load(&gw.http, Arc::new(urls), Some(&token), IN_FLIGHT).await;
    let cpu_share = match (cpu_before, gw.cpu_seconds()) {
        (Some(a), Some(b)) => (b - a) / search.elapsed.as_secs_f64().max(1e-9),
        _ => f64::NAN,
    };
    let rss_after = gw.rss_kib().unwrap_or(0);

    let urls: Vec<reqwest::Url> = asked.iter().map(|q| search_url(gw, UNINDEXED_PATH, q)).collect::<Result<_, _>>()?;
    let unindexed = get_load(&gw.http, Arc::new(urls), Some(&token), IN_FLIGHT).await;
    let health_url = reqwest::Url::parse(&gw.url("/health")).map_err(|e| e.to_string())?;
    let health = get_load(&gw.http, Arc::new(vec![health_url; asked.len()]), None, IN_FLIGHT).await;

    Ok(Measured {
        index_rate: BLOCKS as f64 / index_time.as_secs_f64(),
        index_time,
        put_latency,
        unchanged_rate: BLOCKS as f64 / unchanged_time.as_secs_f64(),
        unchanged_time,
        db_before,
        after,
        on_disk,
        cold_ms,
        rss_before_cold,
        rss_after_cold,
        rss_after,
        cpu_share,
        search,
        unindexed,
        health,
    })
}

/// Registers the service client with the gateway's CLI, exactly as the Tutor plugin's init task does,
/// and gets an `index` token by client credentials.
async fn service_token(gw: &Gateway) -> Result<String, String> {
    gw.cli(&service::ensure_args(&[]), &[(service::SECRET_ENV, SERVICE_SECRET)]).await?;
    service::access_token(&gw.http, &gw.url(""), SERVICE_SECRET, "index").await.map_err(|e| truncate(&e))
}

/// One `PUT …/blocks`: (stored, unchanged).
async fn put_blocks(gw: &Gateway, token: &str, body: &str) -> Result<(u64, u64), String> {
    let r = gw
        .http
        .put(gw.url(&format!("{COURSE_PATH}/blocks")))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let answer: Value = r.json().await.map_err(|e| format!("PUT blocks: {status}: {e}"))?;
    if !status.is_success() {
        return Err(format!("PUT blocks: {status} {}", truncate(&answer.to_string())));
    }
    Ok((answer["stored"].as_u64().unwrap_or(0), answer["unchanged"].as_u64().unwrap_or(0)))
}

fn search_url(gw: &Gateway, course_path: &str, question: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse_with_params(&gw.url(&format!("{course_path}/search")), &[("q", question), ("limit", LIMIT)])
        .map_err(|e| e.to_string())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// GETs, a fixed number, a few in flight, each timed from send to the last byte of the body.

#[derive(Default, Clone)]
struct GetLoad {
    samples: Samples,
    ok: usize,
    failed: Vec<String>,
    /// Search answers only: passages returned in all, and answers with none.
    passages: usize,
    empty: usize,
    elapsed: Duration,
}

async fn get_load(
    http: &reqwest::Client,
    urls: Arc<Vec<reqwest::Url>>,
    token: Option<&str>,
    in_flight: usize,
) -> GetLoad {
    let next = Arc::new(AtomicUsize::new(0));
    let token: Option<Arc<str>> = token.map(Arc::from);
    let started = Instant::now();
    let until = started + LOAD_LIMIT;
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (http, urls, next, token) = (http.clone(), urls.clone(), next.clone(), token.clone());
            tokio::spawn(async move {
                let mut load = GetLoad::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(i) else { break };
                    if Instant::now() >= until {
                        load.failed.push(format!("not sent: the {}-second limit passed", LOAD_LIMIT.as_secs()));
                        continue;
                    }
                    let mut request = http.get(url.clone());
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let t0 = Instant::now();
                    let answer = match request.send().await {
                        Ok(r) => {
                            let status = r.status();
                            match r.bytes().await {
                                Ok(body) if status.is_success() => Ok(body),
                                Ok(body) => Err(format!("{status} {}", String::from_utf8_lossy(&body))),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let took = t0.elapsed();
                    match answer {
                        Ok(body) => {
                            load.samples.record(took);
                            load.ok += 1;
                            if let Ok(v) = serde_json::from_slice::<Value>(&body)
                                && let Some(results) = v["results"].as_array()
                            {
                                load.passages += results.len();
                                load.empty += usize::from(results.is_empty());
                            }
                        }
                        Err(e) => load.failed.push(e),
                    }
                }
                load
            })
        })
        .collect();
    let mut all = GetLoad::default();
    for task in tasks {
        match task.await {
            Ok(load) => {
                all.samples.extend(load.samples);
                all.ok += load.ok;
                all.failed.extend(load.failed);
                all.passages += load.passages;
                all.empty += load.empty;
            }
            Err(e) => all.failed.push(e.to_string()),
        }
    }
    all.elapsed = started.elapsed();
    all
}

// ---------------------------------------------------------------------------------------------
// The database's size, read with `sqlite3` (or Python's sqlite3 module) while the gateway runs.

/// The database's size (page count × page size: what the file holds once the WAL is checkpointed), and
/// the bytes of the pages of `course_blocks` and its primary key, and how many of those are unused
/// (from `dbstat`).
struct Sizes {
    database: u64,
    table: u64,
    unused: u64,
}

fn sqlite_sizes(db: &Path) -> Result<Sizes, String> {
    const QUERY: &str = "SELECT (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()), \
         coalesce(sum(pgsize), 0), coalesce(sum(unused), 0) FROM dbstat \
         WHERE name = 'course_blocks' OR name LIKE 'sqlite_autoindex_course_blocks%';";
    let out = match std::process::Command::new("sqlite3").arg(db).arg(QUERY).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys; print('|'.join(map(str, sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())))",
            ])
            .arg(db)
            .arg(QUERY)
            .output()
            .map_err(|e| format!("neither sqlite3 nor python3 to read the database's size: {e}"))?,
        other => other.map_err(|e| format!("sqlite3: {e}"))?,
    };
    if !out.status.success() {
        return Err(format!("reading the database's size: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<u64> = text.trim().split('|').filter_map(|n| n.trim().parse().ok()).collect();
    match numbers[..] {
        [database, table, unused] => Ok(Sizes { database, table, unused }),
        _ => Err(format!("unexpected output from sqlite3: {}", truncate(&text))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_is_the_same_on_every_run_and_about_2_mb() {
        let (a, b) = (generate_course(), generate_course());
        assert_eq!(a.bodies, b.bodies);
        assert_eq!(a.vocabulary.words.len(), VOCABULARY);
        assert_eq!(a.bodies.len(), BLOCKS / BATCH);
        assert!((1_800_000..=2_300_000).contains(&a.text_bytes), "{}", a.text_bytes);
        let first: Value = serde_json::from_str(&a.bodies[0]).expect("json");
        let blocks = first["blocks"].as_array().expect("blocks");
        assert_eq!(blocks.len(), BATCH);
        assert!(blocks[0]["usage_id"].as_str().is_some_and(|id| id.starts_with("block-v1:IBAL+BENCH+2026+type@html")));
        assert_eq!(blocks[0]["breadcrumb"].as_array().map(Vec::len), Some(4));
        assert!(a.bodies.iter().all(|b| b.len() < 4_000_000), "each PUT within the 4 MiB the API takes");
        assert_eq!(questions(&a.vocabulary, 10), questions(&b.vocabulary, 10));
    }

    #[test]
    fn zipf_draws_favour_the_first_ranks() {
        let mut rng = Rng(1);
        let vocabulary = Vocabulary::generate(&mut rng, 100);
        let top = (0..10_000).filter(|_| vocabulary.draw(&mut rng) == vocabulary.words[0]).count();
        let last = (0..10_000).filter(|_| vocabulary.draw(&mut rng) == vocabulary.words[99]).count();
        // 1/11 over the sum of 1/11 to 1/110: ≈4.3% of the draws; the 100th word ≈0.4%.
        assert!((330..530).contains(&top), "{top}");
        assert!(last < top / 4, "{last}");
    }
}
