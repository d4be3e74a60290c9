//! Okapi BM25 over a fixed set of documents: an inverted index built once, then queried many times.

use std::collections::HashMap;

use super::terms::terms;

/// Term-frequency saturation and length normalisation: the usual values (Robertson & Zaragoza).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// Where a term occurs: (document, how often).
type Postings = Vec<(u32, u32)>;

/// An inverted index of documents numbered 0.. in the order given to [`Index::build`].
#[derive(Debug, Default)]
pub struct Index {
    postings: HashMap<String, Postings>,
    /// Terms per document.
    lengths: Vec<u32>,
    average_length: f32,
}

/// A document's score for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub doc: usize,
    pub score: f32,
}

impl Index {
    /// Indexes `documents`; the n-th is document n.
    pub fn build<'a>(documents: impl IntoIterator<Item = &'a str>) -> Self {
        let mut postings: HashMap<String, Postings> = HashMap::new();
        let mut lengths = Vec::new();
        let mut counts: HashMap<String, u32> = HashMap::new();
        for (doc, text) in documents.into_iter().enumerate() {
            let doc = u32::try_from(doc).unwrap_or(u32::MAX);
            counts.clear();
            let mut length = 0u32;
            for term in terms(text) {
                *counts.entry(term).or_default() += 1;
                length = length.saturating_add(1);
            }
            for (term, count) in counts.drain() {
                postings.entry(term).or_default().push((doc, count));
            }
            lengths.push(length);
        }
        let total: f64 = lengths.iter().map(|&l| f64::from(l)).sum();
        let average_length = if lengths.is_empty() { 0.0 } else { (total / lengths.len() as f64) as f32 };
        Self { postings, lengths, average_length }
    }

    /// How many documents the index holds.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The `limit` best documents for `query` among those `allowed` accepts, best first; documents
    /// sharing no term with the query are never returned. Ties keep document order.
    pub fn search(&self, query: &str, limit: usize, allowed: impl Fn(usize) -> bool) -> Vec<Hit> {
        if limit == 0 || self.is_empty() {
            return Vec::new();
        }
        let mut query_terms: Vec<String> = terms(query).collect();
        query_terms.sort_unstable();
        query_terms.dedup();
        let documents = self.len() as f32;
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for term in &query_terms {
            let Some(postings) = self.postings.get(term) else { continue };
            let containing = postings.len() as f32;
            let idf = (1.0 + (documents - containing + 0.5) / (containing + 0.5)).ln();
            for &(doc, count) in postings {
                let tf = count as f32;
                let length = self.lengths[doc as usize] as f32;
                let norm = K1 * (1.0 - B + B * length / self.average_length.max(1.0));
                *scores.entry(doc).or_default() += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<Hit> = scores
            .into_iter()
            .map(|(doc, score)| Hit { doc: doc as usize, score })
            .filter(|hit| hit.score > 0.0 && allowed(hit.doc))
            .collect();
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Index {
        Index::build([
            "Photosynthesis turns light into chemical energy in the chloroplast.",
            "The Krebs cycle runs in the mitochondria and releases carbon dioxide.",
            "Mitochondria are the powerhouse of the cell; mitochondria hold their own DNA.",
            "Enzymes lower the activation energy of a reaction.",
        ])
    }

    #[test]
    fn the_document_that_uses_the_rare_words_ranks_first() {
        let hits = corpus().search("Where does the Krebs cycle happen?", 3, |_| true);
        assert_eq!(hits.first().map(|h| h.doc), Some(1), "{hits:?}");
        assert_eq!(hits.len(), 1, "only one document mentions krebs or cycle: {hits:?}");
    }

    #[test]
    fn more_occurrences_rank_higher_and_the_limit_holds() {
        let hits = corpus().search("mitochondria", 5, |_| true);
        assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(corpus().search("mitochondria", 1, |_| true).len(), 1);
        assert!(corpus().search("mitochondria", 0, |_| true).is_empty());
    }

    #[test]
    fn refused_documents_are_skipped_not_counted_against_the_limit() {
        let hits = corpus().search("mitochondria energy", 2, |doc| doc != 2);
        assert!(hits.iter().all(|h| h.doc != 2), "{hits:?}");
        assert_eq!(hits.len(), 2);
    }

    #[test]
    fn nothing_in_common_finds_nothing() {
        assert!(corpus().search("the of and", 5, |_| true).is_empty());
        assert!(corpus().search("volcano", 5, |_| true).is_empty());
        assert!(Index::build([]).search("energy", 5, |_| true).is_empty());
    }
}
