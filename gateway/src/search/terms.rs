//! Text to search terms: words split on anything that is not a letter or a digit, lowercased, with
//! the commonest English and French words dropped and English plurals folded to the singular, so
//! "Enzymes" finds "enzyme". No stemmer beyond plurals: a wrong stem costs more precision than it wins.

/// Words too common to tell passages apart (English and French, the languages of the widget).
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "because", "been", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "so", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your", "au", "aux", "avec", "ce", "ces", "comment", "dans", "de", "des",
    "du", "elle", "en", "est", "et", "il", "je", "la", "le", "les", "leur", "mais", "ne", "nous", "ou", "par", "pas",
    "pour", "qu", "que", "qui", "quoi", "sa", "se", "ses", "son", "sont", "sur", "un", "une", "vous",
];

/// The most characters one term keeps (longer runs are not words anyone searches for).
const MAX_TERM_CHARS: usize = 40;

/// The search terms of `text`, in order, repeats kept (term frequency counts them).
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && word.chars().count() <= MAX_TERM_CHARS)
        .map(str::to_lowercase)
        .filter(|word| !STOPWORDS.contains(&word.as_str()))
        .map(singular)
}

/// English plurals to the singular: "studies" → "study", "classes" → "class", "cells" → "cell"; words
/// that only look plural ("analysis", "status", "glass") stay as they are.
fn singular(word: String) -> String {
    let n = word.len();
    if n <= 3 || !word.is_ascii() {
        return word;
    }
    if let Some(stem) = word.strip_suffix("ies")
        && n > 4
    {
        return format!("{stem}y");
    }
    if word.ends_with("sses") || word.ends_with("xes") || word.ends_with("ches") || word.ends_with("shes") {
        return word[..n - 2].to_owned();
    }
    if word.ends_with('s') && !["ss", "us", "is"].iter().any(|end| word.ends_with(end)) {
        return word[..n - 1].to_owned();
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        terms(text).collect()
    }

    #[test]
    fn words_are_lowercased_split_and_common_words_dropped() {
        assert_eq!(all("What is the Calvin cycle?"), ["calvin", "cycle"]);
        assert_eq!(all("Qu'est-ce que la photosynthèse ?"), ["photosynthèse"]);
        assert_eq!(all("CO2 + H2O → glucose"), ["co2", "h2o", "glucose"]);
    }

    #[test]
    fn plurals_fold_to_the_singular() {
        assert_eq!(all("enzymes studies classes boxes cells"), ["enzyme", "study", "class", "box", "cell"]);
        assert_eq!(all("analysis status glass bus"), ["analysis", "status", "glass", "bus"]);
    }

    #[test]
    fn endless_runs_are_not_terms() {
        let run = "x".repeat(MAX_TERM_CHARS + 1);
        assert_eq!(all(&format!("{run} mitochondria")), ["mitochondria"]);
    }
}
