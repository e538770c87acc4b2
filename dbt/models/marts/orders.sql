{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

with

-- On an incremental run, only the recent deliveries: those of the newest batch this table
-- holds and of the `update_max_days_back` days before it (a batch of that window loaded
-- late, or delivered again, is read again), and anything newer. The window is applied
-- here, before the ranking: filtering stg_orders instead would rank the whole history on
-- every run. The first run, and `--full-refresh`, read every delivery.
raw_orders as (

    select * from {{ source('sandbox', 'raw_orders') }}

    {% if is_incremental() %}
        where batch_date >= (
            select
                coalesce(max(held.batch_date), cast('1900-01-01' as date))
                - {{ var('update_max_days_back') }}
            from {{ this }} as held
        )
    {% endif %}

),

-- As in stg_orders: an order's latest delivery is its current state. Its row here replaces
-- the one the table holds (unique_key: delete the order's old row, insert the new one).
deliveries_ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by batch_date desc
        ) as delivery_rank

    from raw_orders

),

final as (

    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(order_date as date) as order_date,
        cast(status as varchar) as status,
        cast(amount as decimal(12, 2)) as amount,
        {{ counts_as_revenue('status') }} as counts_as_revenue,
        cast(batch_date as date) as batch_date

    from deliveries_ranked
    where delivery_rank = 1

)

select * from final
