//! Walks several listings, each sorted by path, in step: one path at a time,
//! with what every listing holds for it. Keeps one record per listing in memory,
//! whatever the size of the tree.

use crate::verify::tree::Record;
use futures::{Stream, StreamExt};

/// A listing that broke off or came out of order.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("listing from {node}: {source:#}")]
    Read {
        node: String,
        #[source]
        source: anyhow::Error,
    },
    #[error("listing from {node} is not sorted at {path:?}")]
    Unsorted { node: String, path: String },
}

/// Calls `visit` once per path found in any listing, in byte order, with each
/// listing's record for it (`None` where the listing lacks it). Returns how many
/// records each listing had.
pub async fn merge<S, F>(
    names: &[&str],
    mut listings: Vec<S>,
    mut visit: F,
) -> Result<Vec<u64>, MergeError>
where
    S: Stream<Item = anyhow::Result<Record>> + Unpin,
    F: FnMut(&[u8], &[(&str, Option<&Record>)]),
{
    let mut heads = Vec::with_capacity(listings.len());
    for (name, listing) in names.iter().zip(listings.iter_mut()) {
        heads.push(next(name, listing, None).await?);
    }
    let mut counts = vec![0u64; listings.len()];
    while let Some(path) = heads.iter().flatten().map(|r| r.path.clone()).min() {
        let copies: Vec<(&str, Option<&Record>)> = names
            .iter()
            .zip(&heads)
            .map(|(name, head)| (*name, head.as_ref().filter(|r| r.path == path)))
            .collect();
        visit(&path, &copies);
        for (i, listing) in listings.iter_mut().enumerate() {
            if heads[i].as_ref().is_some_and(|r| r.path == path) {
                counts[i] += 1;
                heads[i] = next(names[i], listing, Some(&path)).await?;
            }
        }
    }
    Ok(counts)
}

/// The listing's next record, checked to come after `previous`.
async fn next<S>(
    name: &str,
    listing: &mut S,
    previous: Option<&[u8]>,
) -> Result<Option<Record>, MergeError>
where
    S: Stream<Item = anyhow::Result<Record>> + Unpin,
{
    match listing.next().await {
        None => Ok(None),
        Some(Err(source)) => Err(MergeError::Read {
            node: name.to_string(),
            source,
        }),
        Some(Ok(record)) => match previous {
            Some(previous) if record.path.as_slice() <= previous => Err(MergeError::Unsorted {
                node: name.to_string(),
                path: crate::verify::tree::display(&record.path),
            }),
            _ => Ok(Some(record)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tree::Facts;
    use futures::stream;

    fn listing(paths: &[&str]) -> impl Stream<Item = anyhow::Result<Record>> + Unpin {
        let records: Vec<anyhow::Result<Record>> = paths
            .iter()
            .map(|path| {
                Ok(Record {
                    path: path.as_bytes().to_vec(),
                    facts: Facts::Digest(String::new()),
                })
            })
            .collect();
        stream::iter(records)
    }

    #[tokio::test]
    async fn every_path_is_visited_once_in_order_with_each_listing_s_copy() {
        let mut seen = Vec::new();
        let counts = merge(
            &["n1", "n2"],
            vec![listing(&["a", "a/b", "c"]), listing(&["a", "b", "c", "d"])],
            |path, copies| {
                let holders: Vec<&str> = copies
                    .iter()
                    .filter(|(_, r)| r.is_some())
                    .map(|(n, _)| *n)
                    .collect();
                seen.push(format!(
                    "{}:{}",
                    String::from_utf8_lossy(path),
                    holders.join("+")
                ));
            },
        )
        .await
        .unwrap();
        assert_eq!(seen, ["a:n1+n2", "a/b:n1", "b:n2", "c:n1+n2", "d:n2"]);
        assert_eq!(counts, [3, 4]);
    }

    #[tokio::test]
    async fn an_unsorted_or_broken_listing_is_an_error_naming_the_node() {
        let err = merge(&["n1"], vec![listing(&["b", "a"])], |_, _| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains("n1 is not sorted"), "{err}");
        let broken = stream::iter(vec![Err(anyhow::anyhow!("connection lost"))]);
        let err = merge(&["n2"], vec![broken], |_, _| {}).await.unwrap_err();
        assert!(err.to_string().contains("n2: connection lost"), "{err}");
    }
}
