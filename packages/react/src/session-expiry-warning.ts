import { createElement, type ReactNode } from 'react';
import { useExpiryWarning } from './session-provider.js';

export interface SessionExpiryWarningProps {
  /** The text before the seconds. Default "Your session ends in". */
  message?: string;
  /** The button's label. Default "Stay signed in". */
  buttonLabel?: string;
  className?: string;
}

/** An unstyled `role="alertdialog"` shown while the session is about to end, with "Stay signed in". */
export function SessionExpiryWarning(props: SessionExpiryWarningProps): ReactNode {
  const { expiring, secondsLeft, extend } = useExpiryWarning();
  if (!expiring) return null;
  return createElement(
    'div',
    {
      role: 'alertdialog',
      'aria-live': 'assertive',
      className: props.className,
      'data-sessionkeeper-warning': '',
    },
    createElement(
      'p',
      null,
      `${props.message ?? 'Your session ends in'} `,
      createElement('span', { 'data-seconds-left': '' }, String(secondsLeft ?? 0)),
      ' s',
    ),
    createElement(
      'button',
      { type: 'button', onClick: () => void extend() },
      props.buttonLabel ?? 'Stay signed in',
    ),
  );
}
