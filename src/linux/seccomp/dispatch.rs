//! Dispatch on the syscall number as a binary search, not a chain of comparisons.
//!
//! The kernel, when a filter is installed, runs it once for every syscall number of every
//! architecture it serves to find the numbers the filter always allows (the action cache,
//! Linux 5.11), and a chain of comparisons makes each of those runs as long as the chain:
//! with the ~50 numbers of the enforcing filter that was about 0.25 ms of every fence run's
//! start (a 100-comparison chain: 0.59 ms against 0.06 ms when each run stops early, on
//! the development VM). A search tree makes every path about log2(n) comparisons long, at
//! install and at every filtered syscall alike.
//!
//! Invariant: a case's block runs only for its own number, with the number in the
//! accumulator, and returns on every path (it may load arguments); any number without a
//! case gets `otherwise`.

use super::{Insn, JEQ_K, JGE_K, jump, stmt};

/// `BPF_JMP | BPF_JA`: an unconditional jump by `k` (32 bits: no 255-instruction limit).
pub(super) const JA: u16 = 0x05;

/// Numbers at most this many are compared one by one at the leaves.
const LEAF: usize = 3;

/// The instructions that run `cases`' block for its number and `otherwise` for any other.
/// Panics on a number given twice (the second block could never run: a programming error).
pub(super) fn dispatch(mut cases: Vec<(u32, Vec<Insn>)>, otherwise: Insn) -> Vec<Insn> {
    cases.sort_by_key(|(nr, _)| *nr);
    for pair in cases.windows(2) {
        assert_ne!(pair[0].0, pair[1].0, "syscall {} has two cases", pair[0].0);
    }
    let mut out = Vec::new();
    emit(&cases, otherwise, &mut out);
    out
}

fn emit(cases: &[(u32, Vec<Insn>)], otherwise: Insn, out: &mut Vec<Insn>) {
    if cases.len() <= LEAF {
        for (nr, block) in cases {
            let skip = u8::try_from(block.len()).expect("a case's block is short");
            out.push(jump(JEQ_K, *nr, 0, skip));
            out.extend(block);
        }
        out.push(otherwise);
        return;
    }
    let (low, high) = cases.split_at(cases.len() / 2);
    let mut low_code = Vec::new();
    emit(low, otherwise, &mut low_code);
    // nr >= the first high number: over the jump into the low half, then over the low half.
    out.push(jump(JGE_K, high[0].0, 0, 1));
    out.push(stmt(
        JA,
        u32::try_from(low_code.len()).expect("a short program"),
    ));
    out.extend(low_code);
    emit(high, otherwise, out);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{steps, well_formed};
    use super::super::{LD_W_ABS, NATIVE_ARCH, OFF_NR, RET_ALLOW, RET_ERRNO, RET_K};
    use super::*;

    fn ret(k: u32) -> Insn {
        stmt(RET_K, k)
    }

    /// The same cases as a chain: the meaning the tree must keep.
    fn chain(cases: &[(u32, Vec<Insn>)], otherwise: Insn) -> Vec<Insn> {
        let mut out = vec![stmt(LD_W_ABS, OFF_NR)];
        for (nr, block) in cases {
            out.push(jump(JEQ_K, *nr, 0, u8::try_from(block.len()).unwrap()));
            out.extend(block);
        }
        out.push(otherwise);
        out
    }

    fn tree(cases: &[(u32, Vec<Insn>)], otherwise: Insn) -> Vec<Insn> {
        let mut out = vec![stmt(LD_W_ABS, OFF_NR)];
        out.extend(dispatch(cases.to_vec(), otherwise));
        out
    }

    #[test]
    fn a_tree_decides_as_the_chain_for_every_number() {
        // Blocks that load an argument, like the real ones, so the number is gone after.
        let arg_block = |errno: u32| {
            vec![
                stmt(LD_W_ABS, 16),
                jump(JEQ_K, 7, 0, 1),
                ret(RET_ERRNO | errno),
                ret(RET_ALLOW),
            ]
        };
        for n in [0usize, 1, 2, 3, 4, 5, 8, 13, 50, 130] {
            // Unsorted, spread out, with gaps and neighbours.
            let cases: Vec<(u32, Vec<Insn>)> = (0..n)
                .map(|i| {
                    let nr = ((i * 37) % 211 + i / 3) as u32;
                    (nr, i)
                })
                .collect::<std::collections::BTreeMap<u32, usize>>()
                .into_iter()
                .rev()
                .map(|(nr, i)| {
                    let block = if i % 3 == 0 {
                        arg_block(i as u32 + 1)
                    } else {
                        vec![ret(RET_ERRNO | i as u32)]
                    };
                    (nr, block)
                })
                .collect();
            let (chain, tree) = (chain(&cases, ret(RET_ALLOW)), tree(&cases, ret(RET_ALLOW)));
            well_formed(&tree);
            for nr in 0..260 {
                for arg in [0, 7] {
                    let args = [arg, 0, 0, 0, 0, 0];
                    assert_eq!(
                        steps(&tree, nr, NATIVE_ARCH, args).0,
                        steps(&chain, nr, NATIVE_ARCH, args).0,
                        "{n} cases, syscall {nr}, arg {arg}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_path_is_short() {
        let cases: Vec<(u32, Vec<Insn>)> = (0..128)
            .map(|i| (i * 3, vec![ret(RET_ERRNO | 1)]))
            .collect();
        let tree = tree(&cases, ret(RET_ALLOW));
        let longest = (0..400)
            .map(|nr| steps(&tree, nr, NATIVE_ARCH, [0; 6]).1)
            .max()
            .unwrap();
        // 128 cases: 5 levels of two instructions, a leaf of at most 3 comparisons, the
        // return and the load.
        assert!(longest <= 1 + 2 * 6 + 3 + 1, "{longest} instructions");
    }

    #[test]
    #[should_panic(expected = "two cases")]
    fn a_number_given_twice_is_a_bug() {
        dispatch(vec![(5, vec![ret(0)]), (5, vec![ret(1)])], ret(RET_ALLOW));
    }
}
