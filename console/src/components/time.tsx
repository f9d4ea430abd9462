// A time as the viewer wants it (local or UTC), in a <time> element with the ISO value.
import { time } from '../lib/format';

export function Time(props: { iso: string | null | undefined }) {
  if (!props.iso) return <>—</>;
  return <time dateTime={props.iso}>{time(props.iso)}</time>;
}
