//! Which of the course passages given to the model its reply cites: the `[n]` it wrote (also `[1, 3]`
//! and `[2][4]`), kept when n names a passage it was given. The reply's sources are those, in order of
//! their numbers, so a learner is only ever sent to a unit the answer says it used.

use ibal_protocol::Source;

use crate::course::Passage;

/// The sources of `reply`: the passages it cites, by number.
pub fn cited(reply: &str, passages: &[Passage]) -> Vec<Source> {
    if passages.is_empty() {
        return Vec::new();
    }
    let numbers = citation_numbers(reply);
    passages
        .iter()
        .filter(|p| numbers.contains(&p.n))
        .map(|p| Source {
            n: p.n as u64,
            title: p.title.clone(),
            breadcrumb: p.breadcrumb.clone(),
            url: p.url.clone(),
            snippet: p.snippet.clone(),
        })
        .collect()
}

/// Every number inside square brackets holding only numbers, commas and spaces.
fn citation_numbers(text: &str) -> Vec<usize> {
    let mut numbers = Vec::new();
    for (open, _) in text.match_indices('[') {
        let rest = &text[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inside = &rest[..close];
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_digit() || c == ',' || c == ' ') {
            continue;
        }
        numbers.extend(inside.split(',').filter_map(|n| n.trim().parse::<usize>().ok()));
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(n: usize) -> Passage {
        Passage {
            n,
            usage_id: format!("u{n}"),
            title: format!("Unit {n}"),
            breadcrumb: "Course › Section".into(),
            url: format!("https://lms.example.com/jump/u{n}"),
            text: String::new(),
            snippet: format!("snippet {n}"),
        }
    }

    #[test]
    fn only_the_passages_the_reply_cites_are_its_sources() {
        let given = [passage(1), passage(2), passage(3)];
        let sources = cited("ATP is made in the light reactions [3]. See also [1, 3].", &given);
        assert_eq!(sources.iter().map(|s| s.n).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(sources[0].url, "https://lms.example.com/jump/u1");
        assert_eq!(sources[0].title, "Unit 1");
    }

    #[test]
    fn numbers_that_name_no_passage_and_other_brackets_are_ignored() {
        let given = [passage(1), passage(2)];
        assert!(cited("Nothing cited here.", &given).is_empty());
        assert!(cited("As [7] says, and a[i] or [link](x) or [ 2x ]", &given).is_empty());
        assert_eq!(cited("Both[2][1]", &given).len(), 2);
        assert!(cited("[1]", &[]).is_empty());
        assert!(cited("unclosed [1", &given).is_empty());
    }
}
