# fish completion for pavesync. Commands and options come from the program's
# own --help, so they follow the installed version; account names (-a) come
# from the config's `accounts:` block.

function __pavesync_commands
    pavesync --help 2>/dev/null | awk '/^commands:/ {on=1; next} /^$/ {on=0} on {n=$1; $1=""; sub(/^ +/, ""); print n "\t" $0}'
end

function __pavesync_command
    set -l cmds (__pavesync_commands | string replace -r '\t.*' '')
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for w in $words
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $w
            case -c --config --state-repo --state-ref --api-url -a --account --format --color
                set skip 1
            case '-*'
            case '*'
                if contains -- $w $cmds
                    echo $w
                    return 0
                end
        end
    end
    return 1
end

function __pavesync_options
    set -l cmd (__pavesync_command)
    begin
        pavesync --help
        test -n "$cmd"; and pavesync $cmd --help
    end 2>/dev/null | awk '/^ +-/ { sub(/^ +/, ""); n = split($0, w, /[ ,]+/); print w[1]; if (w[1] ~ /^-[a-zA-Z]$/ && w[2] ~ /^--/) print w[2] }' | string match -r -- '^--.*' | sort -u
end

function __pavesync_accounts
    set -l cfg pavesync.yaml
    set -q PAVESYNC_CONFIG; and set cfg $PAVESYNC_CONFIG
    set -l words (commandline -opc)
    for i in (seq (count $words))
        if contains -- $words[$i] -c --config; and test $i -lt (count $words)
            set cfg $words[(math $i + 1)]
        end
    end
    test -r "$cfg"; or return
    awk '
        /^accounts:[[:space:]]*(#.*)?$/ { on = 1; ind = -1; next }
        on && /^[^[:space:]#]/ { exit }
        on && /^[[:space:]]+[a-z0-9][a-z0-9_-]*:[[:space:]]*(#.*)?$/ {
            match($0, /^[[:space:]]+/)
            if (ind < 0) ind = RLENGTH
            if (RLENGTH == ind) { sub(/^[[:space:]]+/, ""); sub(/:.*/, ""); print }
        }
    ' $cfg 2>/dev/null
end

complete -c pavesync -f
complete -c pavesync -n 'not __pavesync_command' -a '(__pavesync_commands)'
complete -c pavesync -a '(__pavesync_options)'
complete -c pavesync -s c -l config -r -F -d 'the config file'
complete -c pavesync -l state-repo -x -a '(__fish_complete_directories)' -d 'the state repository'
complete -c pavesync -s a -l account -x -a '(__pavesync_accounts)' -d 'only this account'
complete -c pavesync -l format -x -a 'text json' -d 'output format'
complete -c pavesync -l color -x -a 'auto always never' -d 'colour'
complete -c pavesync -l on-drift -x -a 'revert fail' -d 'what to do with dashboard edits'
complete -c pavesync -s o -l out -r -F -d 'save the plan to this file'
complete -c pavesync -l plan -r -F -d 'apply this saved plan'
complete -c pavesync -l cacert -r -F -d 'trust this CA'
complete -c pavesync -l metrics-file -r -F -d 'write Prometheus metrics here'
