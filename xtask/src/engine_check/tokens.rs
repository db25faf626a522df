//! The token ids llama.cpp must give the check's text with `gen-model`'s tokenizer, worked out
//! here from the vocabulary alone: LLaMA 3's pre-tokenizer (`llama-bpe`) cuts a text of lowercase
//! words and single spaces into the first word and then each word with its leading space; each
//! piece, spelled in the byte-level alphabet (space is `Ġ`), is one token when the vocabulary
//! has it (llama-bpe ignores merges then), and otherwise is merged from its characters, always
//! merging the adjacent pair of lowest rank (the leftmost of equals) until no pair is a merge.
//! BOS comes first (llama-bpe adds it).

use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::gen_model::vocab::{byte_char, Vocab};

/// The ids of `text` (lowercase ASCII words separated by single spaces), BOS first.
pub fn expected(vocab: &Vocab, text: &str) -> Result<Vec<i32>> {
    if text.is_empty()
        || text.starts_with(' ')
        || text.ends_with(' ')
        || text.contains("  ")
        || !text.bytes().all(|b| b == b' ' || b.is_ascii_lowercase())
    {
        bail!("{text:?}: the check's text is lowercase words separated by single spaces");
    }
    let ids: HashMap<&str, i32> = vocab
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as i32))
        .collect();
    let ranks: HashMap<(&str, &str), usize> = vocab
        .merges
        .iter()
        .enumerate()
        .filter_map(|(rank, m)| m.split_once(' ').map(|pair| (pair, rank)))
        .collect();
    let mut out = vec![vocab.bos as i32];
    for (i, word) in text.split(' ').enumerate() {
        let piece: String = (if i == 0 { "" } else { " " })
            .bytes()
            .chain(word.bytes())
            .map(byte_char)
            .collect();
        if let Some(&id) = ids.get(piece.as_str()) {
            out.push(id);
            continue;
        }
        let mut symbols: Vec<String> = piece.chars().map(String::from).collect();
        loop {
            let best = (0..symbols.len().saturating_sub(1))
                .filter_map(|j| {
                    ranks
                        .get(&(symbols[j].as_str(), symbols[j + 1].as_str()))
                        .map(|&rank| (rank, j))
                })
                .min();
            let Some((_, j)) = best else { break };
            let right = symbols.remove(j + 1);
            symbols[j].push_str(&right);
        }
        for symbol in &symbols {
            match ids.get(symbol.as_str()) {
                Some(&id) => out.push(id),
                None => bail!("{symbol:?} is not a token"),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen_model::vocab::vocab;

    #[test]
    fn test_mini_merges_by_rank() {
        let v = vocab(512, 2).unwrap();
        // "abc": "a b" (rank 1) before "b c" (rank 28) → ab, c. " bad": Ġ never merges; "a d"
        // (rank 3) before "b a" (rank 26) → Ġ, b, ad. Ids: bytes at their value, the merge of
        // rank r at 256 + r, BOS at 510.
        assert_eq!(
            expected(&v, "abc bad").unwrap(),
            vec![510, 256 + 1, 99, 32, 98, 256 + 3]
        );
    }

    #[test]
    fn test_a_whole_word_in_the_vocabulary_is_one_token() {
        let v = vocab(128_256, 256).unwrap();
        // "abc" is a token of the 2b4t vocabulary: 256 + 676 + index of "abc" among 3-letter
        // strings (0 * 676 + 1 * 26 + 2).
        assert_eq!(expected(&v, "abc").unwrap(), vec![128_000, 256 + 676 + 28]);
    }

    #[test]
    fn test_refuses_texts_the_rules_do_not_cover() {
        let v = vocab(512, 2).unwrap();
        for text in ["", " a", "a ", "a  b", "A", "a,b", "a\nb"] {
            assert!(expected(&v, text).is_err(), "{text:?}");
        }
    }
}
