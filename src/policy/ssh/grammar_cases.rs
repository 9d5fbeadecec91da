//! The table of ssh grammar cases: a script's last command, and what `grammar.rs` reads
//! from it: the hosts (`?` for one only known at run time), `|`, the remote commands
//! (`;`-separated), and `|F=FILE` for `-F`; `-` when the program is not one of those read.

/// (script, expected, why).
pub(super) const GRAMMAR: &[(&str, &str, &str)] = &[
    // ssh: destinations.
    ("ssh host", "host|", "a bare host: interactive"),
    (
        "ssh user@host ls",
        "host|ls",
        "user@ is not part of the host",
    ),
    ("ssh a@b@host ls", "host|ls", "the user ends at the last @"),
    (
        "ssh ssh://user@host:2222",
        "host|",
        "an ssh:// URI with a port",
    ),
    (
        "ssh 'ssh://[::1]:22' ls",
        "[::1]|ls",
        "an IPv6 URI (quoted: [::1] is a glob)",
    ),
    ("ssh SSH://Host/", "Host|", "the scheme in any case"),
    ("/usr/bin/ssh host", "host|", "by basename"),
    ("slogin host", "host|", "slogin is ssh"),
    // ssh: options before the destination.
    ("ssh -p 2222 host", "host|", "-p takes the next word"),
    ("ssh -p2222 host", "host|", "-p with its value attached"),
    ("ssh -l user host ls", "host|ls", "-l takes the next word"),
    ("ssh -4vA host", "host|", "a cluster of flags"),
    (
        "ssh -vp 22 host",
        "host|",
        "a flag then a value option in one cluster",
    ),
    ("ssh -vp22 host", "host|", "the value attached to a cluster"),
    ("ssh -i key -F none host", "host||F=none", "-F is recorded"),
    (
        "ssh -B eth0 host",
        "host|",
        "-B takes a value (the Go fence read eth0 as the host)",
    ),
    (
        "ssh -b 10.0.0.1 -c aes128-ctr -D 1080 -E log host",
        "host|",
        "more value options",
    ),
    (
        "ssh -e none -I pk -L 1:h:2 -m hmac host",
        "host|",
        "more value options",
    ),
    (
        "ssh -O check -P tag -Q cipher host",
        "host|",
        "-O, -P and -Q take a value",
    ),
    (
        "ssh -R 1:h:2 -S ctl -W h:2 -w 0:1 host",
        "h,host|",
        "-R -S -w; -W names a host",
    ),
    (
        "ssh -W '[::1]:22' jump",
        "[::1],jump|",
        "-W with an IPv6 host",
    ),
    ("ssh -o Port=22 host", "host|", "-o with a space"),
    ("ssh -oPort=22 host", "host|", "-o attached"),
    ("ssh -o 'Port 22' host", "host|", "-o Key Value"),
    ("ssh -- host ls", "host|ls", "-- before the destination"),
    (
        "ssh -- -host",
        "-host|",
        "after --, a dash word is the destination",
    ),
    // Hosts in options.
    ("ssh -J jump host", "jump,host|", "-J names a jump host"),
    (
        "ssh -J u@j1:22,ssh://j2:2 host",
        "j1,j2,host|",
        "a jump list",
    ),
    ("ssh -Jjump host", "jump,host|", "-J attached"),
    ("ssh -J none host", "host|", "-J none"),
    ("ssh -o ProxyJump=j host", "j,host|", "ProxyJump"),
    (
        "ssh -o proxyjump=j host",
        "j,host|",
        "-o keys are case-insensitive",
    ),
    (
        "ssh -o HostName=real alias",
        "alias,real|",
        "HostName: the host connected to",
    ),
    (
        "ssh -o 'HostName = real' alias",
        "alias,real|",
        "Key = Value",
    ),
    (
        "ssh -o 'HostName=\"real\"' alias",
        "alias,real|",
        "a quoted value",
    ),
    (
        "ssh -o HostName=%h.corp alias",
        "alias,alias.corp|",
        "%h is the destination",
    ),
    ("ssh -o HostName=%h%%x a", "a,a%x|", "%% is %"),
    ("ssh -o HostName=%r.x a", "a,?|", "another token: unknown"),
    // Options after the destination (OpenSSH reads them again).
    (
        "ssh host -p 22 ls",
        "host|ls",
        "options after the destination",
    ),
    (
        "ssh host -o HostName=evil ls",
        "host,evil|ls",
        "a HostName after the destination",
    ),
    (
        "ssh host -J evil",
        "host,evil|",
        "a jump host after the destination",
    ),
    (
        "ssh host -- -p 22",
        "host|-p 22",
        "-- after the destination is consumed",
    ),
    (
        "ssh -- host -p 22",
        "host|-p 22",
        "after a -- before it, options are not read again",
    ),
    (
        "ssh host ls -la",
        "host|ls -la",
        "the command's own options",
    ),
    (
        "ssh host 'ls -la; rm x'",
        "host|'ls -la; rm x'",
        "one word: a script",
    ),
    ("ssh host -t", "host|", "a trailing flag"),
    // Remote commands.
    (
        "ssh -o RemoteCommand='rm -rf /' host",
        "host|rm -rf /",
        "RemoteCommand",
    ),
    (
        "ssh -o RemoteCommand=none host",
        "host|",
        "RemoteCommand none",
    ),
    (
        "ssh host -oRemoteCommand=id ls",
        "host|id;ls",
        "both: each is checked",
    ),
    // Unknown words.
    (
        "ssh $HOST ls",
        "?|$HOST ls",
        "an unknown destination could be options too",
    ),
    ("ssh -p $PORT host", "host|", "an unknown port is harmless"),
    (
        "ssh $OPTS host ls",
        "?|$OPTS host ls",
        "an unknown word in option position",
    ),
    (
        "ssh host $OPTS ls",
        "host,?|$OPTS ls",
        "also after the destination",
    ),
    ("ssh -J \"$J\" host", "?,host|", "an unknown jump host"),
    (
        "ssh -o \"$O\" host",
        "?,host|\"$O\"",
        "an unknown -o could be HostName or RemoteCommand",
    ),
    (
        "ssh host \"$CMD\"",
        "host,?|\"$CMD\"",
        "it could be -oHostName=…",
    ),
    ("ssh -V", "|", "no destination"),
    ("ssh -F ./cfg host", "host||F=./cfg", "a config file"),
    // scp.
    ("scp file host:/tmp/", "host|", "a remote target"),
    ("scp user@host:x .", "host|", "a remote source"),
    ("scp -P 2222 a h1:x h2:y", "h1,h2|", "-P and every operand"),
    ("scp ./a:b /abs/c:d", "|", "a / before the colon: local"),
    (
        "scp -o HostName=evil x h:y",
        "evil,h|",
        "a HostName override",
    ),
    ("scp scp://u@h:22/x .", "h|", "an scp:// URL"),
    ("scp '[::1]:x' .", "[::1]|", "a bracketed IPv6 host"),
    (
        "scp \"$F\" h:",
        "?|",
        "an unknown operand may be an option or remote",
    ),
    ("scp ./$F h:", "h|", "its literal start makes it local"),
    ("scp host:$P .", "host|", "its literal start names the host"),
    ("scp -J j a h:b", "j,h|", "-J"),
    ("scp -S prog -i key a h:b", "h|", "-S and -i take values"),
    // sftp.
    ("sftp host", "host|", "sftp: a host without a path"),
    ("sftp u@host:/dir", "host|", "sftp: with a path"),
    (
        "sftp -P 22 -b batch sftp://h/x",
        "h|",
        "sftp: a URL, options with values",
    ),
    ("sftp \"$H\"", "?|", "sftp: unknown"),
    // rsync.
    ("rsync -av src/ host:/dst/", "host|", "rsync over ssh"),
    ("rsync -av host::module/x .", "host|", "rsync daemon module"),
    ("rsync rsync://h/m/ .", "h|", "rsync URL"),
    (
        "rsync -e 'ssh -J jump' a host:b",
        "host,jump|",
        "-e ssh with a jump host",
    ),
    ("rsync --rsh='ssh -o HostName=x' a h:b", "h,x|", "--rsh="),
    ("rsync --rsh 'ssh -p 2' a h:b", "h|", "--rsh VALUE"),
    ("rsync -avze ssh a h:b", "h|", "-e at the end of a cluster"),
    (
        "rsync --exclude x:y a h:b",
        "h|",
        "a value option's value is not an operand",
    ),
    ("rsync a h:b --delete", "h|", "options after the operands"),
    ("rsync -e \"$RSH\" a h:b", "h,?|", "an unknown remote shell"),
    // git.
    (
        "git clone git@github.com:x/y.git",
        "github.com|",
        "scp-like URL",
    ),
    ("git clone ssh://git@h:22/x", "h|", "ssh:// URL"),
    ("git clone git+ssh://h/x", "h|", "git+ssh://"),
    ("git clone https://github.com/x", "|", "not ssh"),
    ("git clone ./local:x", "|", "a local path"),
    (
        "git clone --depth 1 -b main git@h:x dir",
        "h|",
        "options with values",
    ),
    ("git -C /w fetch git@h:x", "h|", "global options"),
    (
        "git push origin main:main",
        "|",
        "a remote name and a refspec",
    ),
    ("git push git@h:x main:main", "h|", "a URL then a refspec"),
    ("git push --repo=git@h:x", "h|", "--repo="),
    ("git remote add up git@h:x", "h|", "remote add"),
    (
        "git remote set-url --push up git@h:x",
        "h|",
        "remote set-url",
    ),
    ("git remote -v", "|", "remote without add"),
    ("git submodule add git@h:x sub", "h|", "submodule add"),
    (
        "git archive --remote=git@h:x HEAD",
        "h|",
        "archive --remote",
    ),
    ("git ls-remote \"$URL\"", "?|", "an unknown repository"),
    ("git ls-remote git@$H:x", "?|", "an unknown host in the URL"),
    (
        "git clone 'ext::ssh -p 2 h %S x'",
        "|",
        "a remote helper is not an ssh URL",
    ),
    ("git status", "|", "another subcommand"),
    // Not read.
    ("ls host:x", "-", "other programs"),
];
