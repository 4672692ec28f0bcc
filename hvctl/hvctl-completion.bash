# bash completion for hvctl: verbs, global and per-verb options, option values and the names
# of the domains the hvd that hvctl would talk to knows.

# The domain names, asked of hvd with the connection options already on the command line.
_hvctl_domains()
{
    local -a conn=()
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
        --bus-address | --url | --token-file | --ca | --cert | --key)
            conn+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}") ;;
        esac
    done
    "${COMP_WORDS[0]}" "${conn[@]}" list --all --json 2>/dev/null |
        sed -n 's/^    "name": "\([A-Za-z0-9_.-]*\)",\{0,1\}$/\1/p'
}

_hvctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local verbs="create set start stop destroy pause resume reboot delete list info host stats
        console events network save snapshot clone vnc migrate"
    local global="--bus-address --url --token-file --ca --cert --key --json --cluster --help
        --version"
    local verb="" i nargs=0 cluster=0

    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --bus-address | --url | --token-file | --ca | --cert | --key) ((i++)) ;;
        --cluster) [ -z "$verb" ] && cluster=1 ;;
        -*) ;;
        *)
            if [ -z "$verb" ]; then
                verb=${COMP_WORDS[i]}
            else
                case ${COMP_WORDS[i - 1]} in
                --driver | --mode | --vcpus | --memory | --kernel | --initrd | --disk | --cmdline | \
                    --cpuset | --network | --on-crash | --uuid | --timeout | --tail | --count | \
                    --subnet | --snapshot | --host | --to | --listen) ;;
                *) ((nargs++)) ;;
                esac
            fi
            ;;
        esac
    done

    case $prev in
    --bus-address | --url | --vcpus | --memory | --cmdline | --cpuset | --network | --uuid | \
        --timeout | --tail | --count | --subnet | --snapshot | --host | --to | --listen)
        return 0
        ;;
    --token-file | --kernel | --initrd | --disk | --ca | --cert | --key)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
        ;;
    --driver)
        mapfile -t COMPREPLY < <(compgen -W "kvm minihv" -- "$cur")
        return 0
        ;;
    --mode)
        mapfile -t COMPREPLY < <(compgen -W "pv full" -- "$cur")
        return 0
        ;;
    --on-crash)
        mapfile -t COMPREPLY < <(compgen -W "destroy restart preserve" -- "$cur")
        return 0
        ;;
    esac

    if [ -z "$verb" ]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$global" -- "$cur")
        elif ((cluster)); then
            mapfile -t COMPREPLY < <(compgen -W "create delete move migrate drain undrain list hosts" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
        fi
        return 0
    fi

    local opts="" names=0
    case $verb in
    create)
        opts="--driver --mode --vcpus --memory --kernel --initrd --disk --cmdline --cpuset
            --network --autostart --on-crash --uuid"
        ;;
    set)
        opts="--mode --vcpus --memory --kernel --initrd --disk --cmdline --cpuset --network
            --autostart --no-autostart --on-crash"
        names=1
        ;;
    stop)
        opts="--force --timeout --no-wait"
        names=1
        ;;
    start)
        opts="--fresh"
        names=1
        ;;
    destroy | pause | resume | reboot | delete | save) names=1 ;;
    info | stats)
        opts="--json"
        names=1
        ;;
    console)
        opts="--tail"
        names=1
        ;;
    vnc)
        opts="--listen --json"
        names=1
        ;;
    list) opts="--all --json" ;;
    host) opts="--json" ;;
    events) opts="--json --count --timeout --since --domain --kind" ;;
    network)
        if ((nargs == 0)) && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "create list info delete" -- "$cur")
            return 0
        fi
        opts="--subnet --dhcp --nat --json"
        ;;
    snapshot)
        if ((nargs == 0)) && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "create list revert delete" -- "$cur")
            return 0
        fi
        ((nargs == 1)) && [[ $cur != -* ]] &&
            mapfile -t COMPREPLY < <(compgen -W "$(_hvctl_domains)" -- "$cur")
        opts="--json"
        ;;
    clone)
        opts="--snapshot --count --json"
        names=1
        ;;
    migrate)
        opts="--to --token-file --downtime-ms --timeout --bandwidth --cancel"
        names=1
        ;;
    esac
    if ((cluster)); then
        case $verb in
        create) opts+=" --ha --ha-from --host" ;;
        move | migrate) opts="--to --json" ;;
        list | hosts | drain | undrain) opts="--json" ;;
        esac
    fi
    opts+=" --help"

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    elif ((names && nargs == 0)); then
        mapfile -t COMPREPLY < <(compgen -W "$(_hvctl_domains)" -- "$cur")
    fi
    return 0
}

complete -F _hvctl hvctl
