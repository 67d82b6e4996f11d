# bash completion for pavesync                             -*- shell-script -*-
#
# Commands and options come from `pavesync --help` and `pavesync COMMAND
# --help`, so they follow the installed program; account names (-a) come
# from the config's `accounts:` block (a quick scan, no YAML parser).

_pavesync_commands()
{
    "$1" --help 2>/dev/null | awk '/^commands:/ {on = 1; next} /^$/ {on = 0} on {print $1}'
}

_pavesync_options()
{
    # The option lines of the global and the command's help ("  -c, --config
    # FILE  ...", "  --refresh  ...").
    {
        "$1" --help 2>/dev/null
        [[ -n $2 ]] && "$1" "$2" --help 2>/dev/null
    } | awk '/^ +-/ { sub(/^ +/, ""); n = split($0, w, /[ ,]+/); print w[1]; if (w[1] ~ /^-[a-zA-Z]$/ && w[2] ~ /^--/) print w[2] }' | sort -u
}

# Account names under the top-level `accounts:` mapping of the config.
_pavesync_accounts()
{
    local cfg=$1
    [[ -r $cfg ]] || return
    awk '
        /^accounts:[[:space:]]*(#.*)?$/ { on = 1; ind = -1; next }
        on && /^[^[:space:]#]/ { exit }
        on && /^[[:space:]]+[a-z0-9][a-z0-9_-]*:[[:space:]]*(#.*)?$/ {
            match($0, /^[[:space:]]+/)
            if (ind < 0) ind = RLENGTH
            if (RLENGTH == ind) { sub(/^[[:space:]]+/, ""); sub(/:.*/, ""); print }
        }
    ' "$cfg" 2>/dev/null
}

_pavesync()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local prog=${words[0]} cmd="" config=${PAVESYNC_CONFIG:-pavesync.yaml} i
    command -v "$prog" >/dev/null 2>&1 || prog=pavesync
    local commands
    commands=$(_pavesync_commands "$prog")
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c | --config) config=${words[i + 1]} ;;
            --config=*) config=${words[i]#--config=} ;;
        esac
        if [[ -z $cmd && " "$commands" " == *[[:space:]]"${words[i]}"[[:space:]]* ]]; then
            case ${words[i - 1]} in
                -c | --config | --state-repo | --state-ref | --api-url | -a | --account | \
                    --format | --color) ;;
                *) cmd=${words[i]} ;;
            esac
        fi
    done

    case $prev in
        --format) mapfile -t COMPREPLY < <(compgen -W 'text json' -- "$cur"); return ;;
        --color) mapfile -t COMPREPLY < <(compgen -W 'auto always never' -- "$cur"); return ;;
        --on-drift) mapfile -t COMPREPLY < <(compgen -W 'revert fail' -- "$cur"); return ;;
        -a | --account)
            mapfile -t COMPREPLY < <(compgen -W "$(_pavesync_accounts "$config")" -- "$cur")
            return ;;
        -c | --config | -o | --out | --plan | --cacert | --metrics-file)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur"); compopt -o filenames 2>/dev/null
            return ;;
        --state-repo)
            mapfile -t COMPREPLY < <(compgen -d -- "$cur"); compopt -o filenames 2>/dev/null
            return ;;
        --state-ref | --api-url | --remote | --concurrency | --timeout | --retries | \
            --lock-timeout | --max-changes | --deadline | -n | --limit)
            return ;;
    esac

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_pavesync_options "$prog" "$cmd")" -- "$cur")
    elif [[ -z $cmd ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    fi
}
complete -F _pavesync pavesync
