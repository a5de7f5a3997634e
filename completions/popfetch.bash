# bash completion for popfetch(1).
#
# Install as /usr/share/bash-completion/completions/popfetch (cmake
# --install does this), or source it from ~/.bashrc. It needs nothing
# from the bash-completion package.

# The options, as `popfetch --help` lists them.
_popfetch_opts='-4 -6 -a -C -H -h -j -k -n -P -q -u -V -v
--host --port --user --tls --starttls --no-tls --ca-file --fingerprint
--tls-min --cert --key --insecure --auth --password-command --timeout
--ipv4 --ipv6 --maildir --mbox --mda --stdout --no-received --lock-wait
--mda-timeout --keep --only-new --all --delete-after --max-size
--kill-size --max-message-size --limit --state-dir --config
--all-accounts --jobs
--serverinfo --show-config --dry-run --quiet --verbose --progress --json
--syslog --help --version --proxy --proxy-password-command --tunnel
--source-address --authorize --oauth2-provider --oauth2-client-id
--oauth2-client-secret-command --oauth2-tenant --oauth2-scope
--oauth2-token-url --oauth2-device-url --oauth2-authorize-url
--import-state --convert-config
--lmtp --smtp --recipient --delete-refused
--quiet-temporary --daemon'

# The options that take a value (the list may span lines: _popfetch looks
# words up in it with the line ends made spaces).
_popfetch_argopts='-C -H -j -P -u --host --port --user --ca-file
--fingerprint --tls-min --cert --key --auth --password-command --timeout
--maildir --mbox --mda --lock-wait --mda-timeout --delete-after
--max-size --kill-size --max-message-size --limit --state-dir --config
--jobs --progress
--proxy --proxy-password-command --tunnel --source-address
--oauth2-provider --oauth2-client-id --oauth2-client-secret-command
--oauth2-tenant --oauth2-scope --oauth2-token-url --oauth2-device-url
--oauth2-authorize-url --import-state --convert-config
--lmtp --smtp --recipient
--quiet-temporary --daemon'

# _popfetch_config: print the config file this command line would read.
_popfetch_config()
{
	local i w f
	for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-C|--config)
			f=${COMP_WORDS[i + 1]-}
			[[ $f == = ]] && f=${COMP_WORDS[i + 2]-}
			;;
		--config=*)
			f=${w#--config=}
			;;
		-C?*)
			f=${w#-C}
			;;
		esac
	done
	if [[ -n ${f-} ]]; then
		[[ $f == "~/"* ]] && f=$HOME/${f#"~/"}
		printf '%s\n' "$f"
	elif [[ ${XDG_CONFIG_HOME-} == /* &&
	    -e $XDG_CONFIG_HOME/popfetch/config ]]; then
		printf '%s\n' "$XDG_CONFIG_HOME/popfetch/config"
	elif [[ -e $HOME/.config/popfetch/config ]]; then
		printf '%s\n' "$HOME/.config/popfetch/config"
	else
		printf '%s\n' "$HOME/.popfetchrc"
	fi
}

# _popfetch_accounts FILE: the names of the `account NAME [: PARENT]' lines.
_popfetch_accounts()
{
	[[ -r $1 ]] || return 0
	sed -n 's/^[[:space:]]*account[[:space:]]\{1,\}\([^[:space:]:]\{1,\}\).*/\1/p' \
	    "$1" 2>/dev/null
}

_popfetch()
{
	local cword=$COMP_CWORD cur=${2-${COMP_WORDS[COMP_CWORD]}}
	local prev= opt= pre= argopts=" ${_popfetch_argopts//$'\n'/ } "
	((cword > 0)) && prev=${COMP_WORDS[cword - 1]}
	COMPREPLY=()

	# Which option is the word a value of? With '=' in COMP_WORDBREAKS,
	# "--auth=pl" arrives as "--auth" "=" "pl".
	if [[ ${COMP_WORDS[cword]} == = ]]; then
		opt=$prev
		cur=
	elif [[ $prev == = ]] && ((cword > 1)); then
		opt=${COMP_WORDS[cword - 2]}
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		pre=$opt=
		cur=${cur#*=}
	elif [[ $argopts == *" $prev "* ]]; then
		opt=$prev
	fi

	if [[ -n $opt ]]; then
		case $opt in
		--auth)
			COMPREPLY=($(compgen -P "$pre" -W 'auto user apop plain
			    login cram-md5 scram-sha-1 scram-sha-256 xoauth2
			    oauthbearer' -- "$cur"))
			;;
		--progress)
			COMPREPLY=($(compgen -P "$pre" -W 'auto always never' \
			    -- "$cur"))
			;;
		--tls-min)
			COMPREPLY=($(compgen -P "$pre" -W '1.2 1.3' -- "$cur"))
			;;
		--authorize)
			COMPREPLY=($(compgen -P "$pre" -W 'device browser' \
			    -- "$cur"))
			;;
		--oauth2-provider)
			COMPREPLY=($(compgen -P "$pre" -W 'google microsoft
			    generic' -- "$cur"))
			;;
		--convert-config)
			COMPREPLY=($(compgen -P "$pre" -W 'mpop fetchmail' \
			    -- "$cur"))
			;;
		--import-state)
			# FORMAT: first; the path after it is the user's
			COMPREPLY=($(compgen -P "$pre" -W 'mpop: fetchmail:
			    getmail:' -- "$cur"))
			compopt -o nospace 2>/dev/null
			;;
		-P|--port)
			COMPREPLY=($(compgen -P "$pre" -W '995 110' -- "$cur"))
			;;
		-H|--host|--smtp)
			COMPREPLY=($(compgen -P "$pre" -A hostname -- "$cur"))
			;;
		-u|--user)
			COMPREPLY=($(compgen -P "$pre" -u -- "$cur"))
			;;
		-C|--config|--ca-file|--cert|--key|--mbox|--lmtp)
			local IFS=$'\n'
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -P "$pre" -f -- "$cur"))
			;;
		--maildir|--state-dir)
			local IFS=$'\n'
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -P "$pre" -d -- "$cur"))
			;;
		--mda|--password-command|--proxy-password-command|--tunnel|\
		--oauth2-client-secret-command)
			COMPREPLY=($(compgen -P "$pre" -c -- "$cur"))
			;;
		*)
			# a number or a fingerprint: nothing to offer, and
			# certainly not an option or an account name
			;;
		esac
		return 0
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$_popfetch_opts" -- "$cur"))
		return 0
	fi
	COMPREPLY=($(compgen -W "$(_popfetch_accounts "$(_popfetch_config)")" \
	    -- "$cur"))
	return 0
}

complete -F _popfetch popfetch
